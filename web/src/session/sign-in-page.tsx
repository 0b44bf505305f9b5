// What a browser without a session sees: how to get one. The dashboard has no password form:
// `rewind dashboard` prints a one-time link with the rights of the CLI's token.
export function SignInPage() {
  return (
    <main className="signin" id="main">
      <h1 tabIndex={-1}>Sign in to Rewind</h1>
      <p>This dashboard needs a session, and there is none in this browser (or it has ended).</p>
      <p>On a machine with a token for this server, run</p>
      <pre>
        <code>rewind dashboard</code>
      </pre>
      <p>
        and open the link it prints. The link works once, for 15 minutes; the session it opens lasts 12 hours
        and has the rights of that token.
      </p>
    </main>
  );
}
