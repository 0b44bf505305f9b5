// Instances are children of the agent on this host and get PORT: loopback reaches them whatever
// address they bind (the controller and the proxy run on the same host as the agent).
export const LOCAL_HOST = '127.0.0.1';
