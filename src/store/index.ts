// The store's public surface: open one with openStore, program against the Store contract.

export { type OpenStoreOptions, openStore, redactUrl, SQLITE_FILE_NAME } from './open-store.ts';
export * from './types.ts';
