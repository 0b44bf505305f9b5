// A small router on the History API: the page follows location.pathname; links change it without
// a reload; Back and Forward work. After a navigation the new page's heading takes focus, so a
// screen reader and the keyboard start there.
import { type AnchorHTMLAttributes, type MouseEvent, useSyncExternalStore } from 'react';

const NAVIGATED = 'rewind:navigate';

function subscribe(listener: () => void): () => void {
  window.addEventListener('popstate', listener);
  window.addEventListener(NAVIGATED, listener);
  return () => {
    window.removeEventListener('popstate', listener);
    window.removeEventListener(NAVIGATED, listener);
  };
}

export function usePath(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}

export function navigate(href: string): void {
  if (href === window.location.pathname + window.location.search) return;
  window.history.pushState(null, '', href);
  window.scrollTo(0, 0);
  window.dispatchEvent(new Event(NAVIGATED));
  requestAnimationFrame(() => document.querySelector<HTMLElement>('main h1')?.focus({ preventScroll: true }));
}

/** An <a> that opens its page in place; a click with a modifier key keeps the browser's meaning. */
export function Link({ href, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { href: string }) {
  const open = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={open} {...rest} />;
}
