// Opening a URL in the user's browser, on a desktop only: over SSH or on a server there is none,
// and the printed link is what the user copies.
import { spawn } from 'node:child_process';

/** Starts the desktop's opener for `url`, detached; does nothing without a desktop. */
export function openInBrowser(url: string): void {
  const opener =
    process.platform === 'darwin'
      ? 'open'
      : process.platform === 'win32'
        ? null
        : process.env.DISPLAY || process.env.WAYLAND_DISPLAY
          ? 'xdg-open'
          : null;
  if (!opener) return;
  const child = spawn(opener, [url], { stdio: 'ignore', detached: true });
  child.on('error', () => {});
  child.unref();
}
