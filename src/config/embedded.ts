// The embedded default: a demo cluster of three brokers behind 127.0.0.1:1883.
export const embeddedConfigText = `# Sluice embedded default: three demo brokers that route to each other: Mosquitto (MQTT 3.1, 3.1.1
# and 5) when it is installed, else aedes in-process (MQTT 3.1 and 3.1.1).
workers: 2
listeners:
  - bind: 127.0.0.1:1883
demo: { brokers: 3, host: 127.0.0.1, first_port: 1884, engine: auto }
balance:
  strategy: sticky
  key: [client-id, username, source-address]
sticky: { capacity: 65536, ttl: 2h }
limits: { connect_timeout: 10s, max_connect_size: 64KiB }
health: { mqtt: { interval: 2s, timeout: 1s, rise: 2, fall: 2 } }
admin: { bind: 127.0.0.1:9100 }
`;
