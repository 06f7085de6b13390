// Prints sdk/protocol/vectors.json: node bin/run-ts.mjs sdk/protocol/gen-vectors.ts > sdk/protocol/vectors.json
import { buildVectors } from './vector-gen.ts';

console.log(JSON.stringify(await buildVectors(), null, 2));
