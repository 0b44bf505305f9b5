// The dashboard's build: web/ into web/dist, which `rewind server` serves at /. The dev server
// (npx vite web) forwards the API to a running server (REWIND_API, default the example's address)
// and presents itself to it as that server's own origin, as the built pages are.
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const api = process.env.REWIND_API ?? 'http://127.0.0.1:7070';

export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Every browser that runs the dashboard supports module preloading.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      '/api': {
        target: api,
        changeOrigin: true,
        configure: (proxy) =>
          proxy.on('proxyReq', (req) => req.getHeader('origin') && req.setHeader('origin', api)),
      },
      '/signin': { target: api, changeOrigin: true },
    },
  },
});
