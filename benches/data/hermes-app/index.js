// The benchmark app: TypeScript's compiler as one large module, bundled by Metro and compiled
// by hermesc like a React Native release build (make-hermes.sh).
'use strict';

const ts = require('typescript');

print(ts.version);
