// The admin API described in OpenAPI 3.1, served at GET /openapi.json. test/admin/openapi.test.ts checks
// that it names exactly the routes the router serves (test hooks aside).
const json = { 'application/json': { schema: { type: 'object' } } } as const;
const answer = (description: string) => ({ description, content: json });
const error = answer('{"error": "..."} saying what is wrong');
const unauthorized = {
  401: answer('no bearer token, or not the one in admin.token_file (WWW-Authenticate: Bearer)'),
  403: answer('admin.token_file is not set: calls that change something are off'),
};
const brokerName = { name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: 'the broker name (percent-encoded)' } as const;

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Sluice admin API',
    version: '1',
    description: 'JSON views of an MQTT load balancer, and calls that drain brokers and reload the config. ' +
      'Every GET path also takes HEAD. Calls that change something need `Authorization: Bearer <token>` (admin.token_file).',
  },
  components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
  paths: {
    '/healthz': { get: { summary: 'Alive: the primary answers (with each worker state)', responses: { 200: answer('alive') } } },
    '/readyz': { get: { summary: 'Ready: every worker listens and at least one broker takes new clients', responses: { 200: answer('ready'), 503: answer('not ready, with why') } } },
    '/api/brokers': { get: { summary: 'Each broker: address, weight, health, draining, live connections, slow start', responses: { 200: answer('the brokers') } } },
    '/api/brokers/{name}/drain': {
      post: {
        summary: 'No new clients on the broker; with close_rate, its clients are closed that many a second (until a restart)',
        security: [{ bearer: [] }],
        parameters: [brokerName, { name: 'close_rate', in: 'query', required: false, schema: { type: 'number', minimum: 0, maximum: 100000 } }],
        responses: { 200: answer('drained'), 400: error, 404: error, ...unauthorized },
      },
    },
    '/api/brokers/{name}/undrain': {
      post: { summary: 'The broker takes new clients again (until a restart)', security: [{ bearer: [] }], parameters: [brokerName], responses: { 200: answer('undrained'), 404: error, ...unauthorized } },
    },
    '/api/clients': {
      get: {
        summary: 'Forwarded clients (client id, username, broker, worker, remote address, since)',
        parameters: [
          { name: 'client_id', in: 'query', required: false, schema: { type: 'string' } },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 10000 } },
        ],
        responses: { 200: answer('clients and the total') },
      },
    },
    '/api/clients/{id}': {
      get: {
        summary: 'Where a client id is placed and why: its sticky pin, where its next connect goes first (pin, hash or strategy), its connections',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'the MQTT client id (percent-encoded)' }],
        responses: { 200: answer('the placement'), 400: error },
      },
    },
    '/api/discovery': { get: { summary: 'Each discovery source: its last answer, error, brokers', responses: { 200: answer('the sources') } } },
    '/api/tls': { get: { summary: 'Each TLS listener: certificates and their expiry; the last certificate reload', responses: { 200: answer('the certificates') } } },
    '/api/stats': { get: { summary: 'Every counter, open and pending clients, the data path, the sticky table', responses: { 200: answer('the counts') } } },
    '/api/reload': {
      post: { summary: 'Reload the config file and TLS files, as SIGHUP does', security: [{ bearer: [] }], responses: { 200: answer('applied: the keys applied and those waiting for a restart'), 409: answer('refused: the running config stays; error says why'), ...unauthorized } },
    },
    '/metrics': { get: { summary: 'Prometheus metrics (text exposition format)', responses: { 200: { description: 'the metrics', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
    '/openapi.json': { get: { summary: 'This document', responses: { 200: answer('OpenAPI 3.1') } } },
  },
} as const;
