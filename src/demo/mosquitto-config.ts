// The generated mosquitto.conf of each demo broker: a star of MQTT 5 bridges, every broker to demo-1.
//
// Why a star: each message crosses at most two bridges and has exactly one path between any two
// brokers, so nothing loops and nothing arrives twice (measured with Mosquitto 2.0.11, QoS 0/1/2, from
// every broker to every broker). Why MQTT 5 bridges: a 3.1.1 bridge drops user properties, response
// topic and message expiry on the way. `topic # both 2` carries every topic at up to QoS 2; "#" never
// matches `$SYS/...`, and notifications stay local, so each broker's $SYS tree stays its own.
import type { BrokerConfig } from '../config/resolved.ts';

/** The bridge from broker `index` (>= 1) to the hub: its connection name and remote client id. */
export function bridgeName(brokers: BrokerConfig[], index: number): string {
  return `sluice-${brokers[index].name}-to-${brokers[0].name}`;
}

/** The retained topic on broker `index` (>= 1) where its bridge says "1" (connected) or "0". */
export function bridgeStateTopic(brokers: BrokerConfig[], index: number): string {
  return `$SYS/broker/connection/${bridgeName(brokers, index)}/state`;
}

/** Where to connect to a broker that listens on `host`: a listener on every address is reached on loopback. */
export function dialHost(host: string): string {
  return host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
}

/** mosquitto.conf text for broker `index` of `brokers`; brokers[0] is the hub. */
export function mosquittoConfText(brokers: BrokerConfig[], index: number): string {
  const self = brokers[index];
  const hub = brokers[0];
  const lines = [
    `# Sluice demo broker ${self.name} (generated; removed when Sluice stops)`,
    `listener ${self.port} ${self.host}`,
    'allow_anonymous true',
    'persistence false',
    // stderr is unbuffered (stdout to a pipe is block-buffered): Sluice logs each line as it happens.
    'log_dest stderr',
    'log_timestamp false',
    'log_type error', 'log_type warning', 'log_type notice', 'log_type information',
  ];
  if (index > 0) {
    const name = bridgeName(brokers, index);
    lines.push(
      '',
      `# Bridge to the hub ${hub.name}: every topic, both ways.`,
      `connection ${name}`,
      `address ${dialHost(hub.host)}:${hub.port}`,
      'bridge_protocol_version mqttv50',
      // The hub does not echo a bridged message back (MQTT 5 bridges subscribe with no-local; for
      // 3.1.1 this flag marks the connection as a bridge).
      'try_private true',
      `remote_clientid ${name}`,
      'cleansession true',
      'notifications true',
      'notifications_local_only true',
      `notification_topic ${bridgeStateTopic(brokers, index)}`,
      // Reconnect quickly when the hub restarts (backoff 1 s up to 5 s).
      'restart_timeout 1 5',
      'topic # both 2',
    );
  }
  return lines.join('\n') + '\n';
}
