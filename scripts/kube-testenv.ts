// The test control plane by hand: `node scripts/kube-testenv.ts build` builds its binaries into
// the cache (what the Kubernetes tests do on their first run); `start DIR` starts one, writes
// DIR/kubeconfig and runs until Ctrl-C. See test/support/kube/control-plane.ts.
import { buildKubeBinaries, startControlPlane } from '../test/support/kube/control-plane.ts';

const [command, dir] = process.argv.slice(2);
if (command === 'build') {
  const bin = buildKubeBinaries();
  console.log(bin);
} else if (command === 'start' && dir) {
  const plane = await startControlPlane({ dir });
  console.log(
    `API server ${plane.server}\nkubeconfig ${plane.kubeconfig} (KUBECONFIG=${plane.kubeconfig})\nCtrl-C stops it`,
  );
  const stop = () => void plane.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
} else {
  console.error('usage: node scripts/kube-testenv.ts build | start DIR');
  process.exit(1);
}
