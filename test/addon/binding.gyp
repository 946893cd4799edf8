# A test-only native addon, standing in for "another native addon" that owns
# objects addcleanup is asked to watch (contract point 3). It uses plain
# Node-API from C (node_api.h), NAPI_VERSION 8, nothing else. It is built by
# tools/build-test-addon.js into test/addon/build/ (ignored by git) and is
# never part of the published package (package.json "files" omits test/).
{
  "targets": [
    {
      "target_name": "test_addon",
      "sources": ["test_addon.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-Wall", "-Wextra", "-O1"]
    }
  ]
}
