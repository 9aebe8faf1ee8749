{
  "targets": [
    {
      "target_name": "casper_snapshot",
      "sources": ["<!@(node -p \"require('./build-config.json').sources.join(' ')\")"],
      "defines": ["<!@(node -p \"require('./build-config.json').defines.join(' ')\")"],
      "include_dirs": ["native"],
      "libraries": ["<!@(node -p \"require('./build-config.json').libraries.map(l => '-l' + l).join(' ')\")", "-lpthread"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-O2", "<!@(node -p \"require('./build-config.json').warnings.join(' ')\")", "<!@(node -p \"process.env.CASPER_WERROR === '1' ? '-Werror' : ''\")"],
      "cflags_cc!": ["-fno-exceptions"]
    }
  ]
}
