// Metro configuration for the Hermes benchmark bundle: Node built-ins that TypeScript's
// compiler requires (behind runtime checks) resolve to empty modules, as in an app.
'use strict';

const path = require('path');
const {builtinModules} = require('module');

module.exports = {
  projectRoot: path.join(__dirname, '..'),
  watchFolders: [path.join(__dirname, '..')],
  reporter: {update() {}},
  transformer: {
    babelTransformerPath: require.resolve('metro-babel-transformer'),
  },
  resolver: {
    sourceExts: ['js', 'json'],
    resolveRequest(context, name, platform) {
      if (builtinModules.includes(name.replace(/^node:/, ''))) {
        return {type: 'empty'};
      }
      return context.resolveRequest(context, name, platform);
    },
  },
};
