# The splice addon: one C file, Node-API 8 (async cleanup hooks), Linux only (see native/splice.c).
{
  "targets": [
    {
      "target_name": "splice",
      "sources": ["native/splice.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
