// The config after validation, in the units the code uses; this plain object is what workers receive.
import type { DemoEngineChoice, KeySource } from './schema.ts';
import type { StrategyName } from '../balance/strategy.ts';

export type Endpoint = { address: string; host: string; port: number };
/**
 * drain: placed on by no new client (its connected clients stay). What the workers get (the broker set,
 * src/brokers/broker-slots.ts) also has: `ip`, the address the primary resolved the host to (undefined:
 * the name did not resolve, never dialed); `removed`, gone from the set while its clients drain (or a free
 * slot, name ''), never chosen.
 */
export type BrokerConfig = Endpoint & { name: string; weight: number; proxyProtocol: 'none' | 'v2'; drain: boolean; slowStartMs?: number; drainCloseRate?: number; ip?: string; removed?: boolean };

/** A discovery source (discovery:), paths resolved against the config file's directory. */
export type DiscoveryConfig =
  | { type: 'file'; path: string; intervalMs: number; allowEmpty: boolean }
  | { type: 'http'; url: string; intervalMs: number; timeoutMs: number; format: 'sluice' | 'emqx'; mqttPort: number; tokenFile: string | undefined; allowEmpty: boolean }
  | { type: 'dns'; name: string; record: 'A' | 'AAAA' | 'SRV'; port: number; resolver: string | undefined; intervalMs: number; allowEmpty: boolean };

/** The active MQTT health check (health.mqtt); passwordFile is a path, read by the primary only. */
export type MqttHealthConfig = {
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
  clientIdPrefix: string;
  username: string | undefined;
  passwordFile: string | undefined;
  protocolVersion: 4 | 5;
};
/**
 * An address Sluice listens on, `address` as written. host undefined = every address: Node listens
 * on `::` dual stack (IPv6 and IPv4), or 0.0.0.0 where the machine has no IPv6. After
 * resolveListenerAddresses (listeners.ts) a host is always an IP address, never a name.
 */
export type ListenEndpoint = { address: string; host: string | undefined; port: number };

/** A TLS listener's settings as written (file paths, resolved against the config file's directory). */
export type TlsListenerConfig = {
  pairs: { cert: string; key: string }[]; // the first is the default; the others are chosen by SNI
  ca: string | undefined;
  clientAuth: 'none' | 'optional' | 'required';
  minVersion: 'TLSv1.2' | 'TLSv1.3';
  alpn: string[] | undefined;
  handshakeTimeoutMs: number;
};

export type ListenerConfig = {
  bind: ListenEndpoint;
  protocol: 'mqtt' | 'mqtts' | 'ws' | 'wss';
  tls: TlsListenerConfig | undefined;
  /** Each client's bytes start with a PROXY header (v1 or v2) from a front balancer. */
  acceptProxyProtocol: boolean;
  /** ws and wss: the upgrade's HTTP path, and the largest WebSocket message a client may send. */
  ws: { path: string; maxFrameBytes: number } | undefined;
  /** A client whose CONNECT client id is not its certificate's CN is refused (CONNACK 0x85 / 0x02). */
  clientIdMustMatch: 'cert-cn' | undefined;
};

export type ResolvedConfig = {
  workers: number;
  listeners: ListenerConfig[];
  brokers: BrokerConfig[];
  /** Demo brokers take firstPort, firstPort + 1, ...; the engine is chosen at start (src/demo/engine.ts). */
  demo: { brokers: number; host: string; firstPort: number; engine: DemoEngineChoice } | undefined;
  /** rebalanceRate: clients a second moved onto a broker that comes up (0: off; src/primary/rebalancer.ts). */
  balance: { strategy: StrategyName; key: KeySource[]; loadBound: number; rebalanceRate: number };
  sticky: { capacity: number; ttlSec: number };
  limits: {
    connectTimeoutMs: number;
    maxConnectBytes: number;
    brokerConnectTimeoutMs: number;
    maxConnections: number; // admitted clients: CONNECT read, placing or forwarding
    maxPending: number; // clients still in the CONNECT phase; past it the oldest is evicted
    maxPendingPerWorker: number; // each worker's part of maxPending (rounded up)
    connectRatePerSec: number; // 0 = unlimited
    connectBurst: number;
    /** Idle limit of a forwarded client: 'keepalive' (1.5x its CONNECT keep-alive), 'off', or ms. */
    idle: 'keepalive' | 'off' | number;
  };
  /** Sources whose broker sets join `brokers` (the static ones). */
  discovery: DiscoveryConfig[];
  /** Broker health checks: off (every broker up) unless health.mqtt is configured. */
  health: {
    mqtt: MqttHealthConfig | undefined;
    /** HTTP readiness per broker, checked with each MQTT probe (both must pass). */
    http: { scheme: 'http' | 'https'; port: number; path: string } | undefined;
    passive: { failures: number; cooldownMs: number } | undefined;
  };
  /** tokenFile: the bearer token for calls that change something (read by the primary only). */
  admin: { bind: ListenEndpoint; tokenFile: string | undefined } | undefined;
  /** auto = splice(2) where the native addon runs, else the JS pipe (SLUICE_DATAPATH overrides). */
  datapath: 'auto' | 'js' | 'splice';
  /** Native path: a source streaming small writes is held at most this long, in µs (0 = never held). */
  coalesceUs: number;
  /** SIGTERM: how long live connections get to end before they are closed. */
  shutdown: { drainTimeoutMs: number };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; format: 'auto' | 'json' | 'pretty' };
};
