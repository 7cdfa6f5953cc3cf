# The native engine: Node-API 8 (async cleanup hooks), Linux only (epoll, splice). One concern a file:
# engine (listeners, accept, CONNECT phase, broker connect, events), pump, deadlines, binding.
{
  "targets": [
    {
      "target_name": "splice",
      "sources": ["native/engine.c", "native/pump.c", "native/deadline.c", "native/binding.c", "native/notify.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
