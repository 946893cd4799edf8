# Build policy for the addcleanup addon, in one place.
#
# - Stable Node-API only, through node-addon-api: NAPI_VERSION=8 (no v8.h, no
#   node.h, no NAPI_EXPERIMENTAL), so one compiled .node file loads on every
#   Node.js from 20 on.
# - C++ exceptions are off (NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS): every
#   Node-API status is checked by hand and turned into a JavaScript exception;
#   nothing a caller does can abort the process. NODE_API_SWALLOW_UNTHROWABLE_
#   EXCEPTIONS keeps node-addon-api from aborting when an exception cannot be
#   thrown because the environment is terminating (worker.terminate()).
# - Symbols are hidden except the module's registration entry point.
# - Release defines NDEBUG; Debug keeps asserts (ADDCLEANUP_ASSERT) and -O0.
# - `node-gyp rebuild --debug -- -Dsanitize=1` adds -fsanitize=address,undefined.
{
  "variables": {
    "sanitize%": 0
  },
  "targets": [
    {
      "target_name": "addcleanup",
      "sources": [
        "native/addon.cc",
        "native/registry.cc",
        "native/queue.cc",
        "native/runtime.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS",
        "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED"
      ],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra", "-fno-exceptions"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "GCC_SYMBOLS_PRIVATE_EXTERN": "YES",
        "WARNING_CFLAGS": ["-Wall", "-Wextra"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 0, "WarningLevel": 3 }
      },
      "configurations": {
        "Debug": {
          "defines": ["ADDCLEANUP_DEBUG=1"],
          "cflags_cc": ["-O0", "-g3"]
        },
        "Release": {
          "defines": ["NDEBUG"],
          "cflags_cc": ["-O2"]
        }
      },
      "conditions": [
        ["OS=='linux'", {
          "libraries": ["-ldl"]
        }],
        ["sanitize==1", {
          "cflags_cc": ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-fno-sanitize-recover=undefined"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
