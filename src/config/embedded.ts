// The embedded default: a demo cluster of three in-process brokers behind 127.0.0.1:1883.
export const embeddedConfigText = `# Sluice embedded default: three demo brokers (aedes, in-process) that route to each other.
workers: 2
listeners:
  - bind: 127.0.0.1:1883
demo: { brokers: 3, host: 127.0.0.1, first_port: 1884 }
balance:
  strategy: sticky
  key: [client-id, username, source-address]
sticky: { capacity: 65536, ttl: 2h }
limits: { connect_timeout: 10s, max_connect_size: 64KiB }
admin: { bind: 127.0.0.1:9100 }
`;
