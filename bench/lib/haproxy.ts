// HAProxy as a bench target: config generation (pure, tested) for plain TCP with splice and for
// MQTT-aware sticky mode, plus the stats-socket query that proves HAProxy is in the path.
import { connect } from 'node:net';

export type HaproxyMode = 'tcp' | 'mqtt';

/** `tlsCrt`: terminate TLS on the listener with this certificate+key file (`bind ... ssl crt`). */
export function haproxyConfig(opts: { mode: HaproxyMode; listenPort: number; backendPorts: number[]; threads: number; statsSocket: string; maxconn: number; maxpipes?: number; tlsCrt?: string }): string {
  const bind = `  bind 127.0.0.1:${opts.listenPort}${opts.tlsCrt ? ` ssl crt ${opts.tlsCrt}` : ''}`;
  const servers = opts.backendPorts.map((p, i) => `  server b${i + 1} 127.0.0.1:${p}`);
  const common = [
    'global',
    `  nbthread ${opts.threads}`,
    `  maxconn ${opts.maxconn}`,
    ...(opts.maxpipes !== undefined ? [`  maxpipes ${opts.maxpipes}`] : []),
    `  stats socket ${opts.statsSocket} mode 600 level admin`,
    '',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 120s',
    '  timeout server 120s',
    `  maxconn ${opts.maxconn}`,
    '',
  ];
  if (opts.mode === 'tcp') {
    return [...common,
      'frontend fe',
      bind,
      '  option splice-auto',
      '  default_backend be',
      '',
      'backend be',
      '  balance roundrobin',
      '  option splice-auto',
      ...servers, ''].join('\n');
  }
  // MQTT-aware sticky mode, as in HAProxy's own MQTT examples: wait for a valid CONNECT, then stick
  // on its client identifier (HAProxy keeps at most `len` bytes of the key).
  return [...common,
    'frontend fe',
    bind,
    '  tcp-request inspect-delay 10s',
    '  tcp-request content reject unless { req.payload(0,0),mqtt_is_valid }',
    '  default_backend be',
    '',
    'backend be',
    '  balance roundrobin',
    '  stick-table type string len 64 size 1m expire 2h',
    '  stick on req.payload(0,0),mqtt_field_value(connect,client_identifier)',
    '  option splice-auto',
    ...servers, ''].join('\n');
}

/** Sends one command to HAProxy's stats socket and returns its answer. */
export function haproxyCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
    s.write(`${command}\n`);
  });
}

/** Cumulated connections accepted by HAProxy (from `show info`). */
export async function haproxyCumConns(socketPath: string): Promise<number> {
  const info = await haproxyCommand(socketPath, 'show info');
  const m = /^CumConns:\s*(\d+)/m.exec(info);
  if (!m) throw new Error(`no CumConns in HAProxy's show info: ${info.slice(0, 200)}`);
  return Number(m[1]);
}
