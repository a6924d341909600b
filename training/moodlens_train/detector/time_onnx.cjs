// Median time of one detector run under onnxruntime-node (1 intra-op thread), per input size, beside nothing
// else: node training/moodlens_train/detector/time_onnx.cjs MODEL.onnx [HxW ...]   (default 320x416 480x640)
const path = require('path');
const ort = require(path.resolve(__dirname, '../../../node_modules/onnxruntime-node'));
(async () => {
  const [model, ...sizes] = process.argv.slice(2);
  const s = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  for (const hw of sizes.length ? sizes : ['320x416', '480x640']) {
    const [h, w] = hw.split('x').map(Number);
    const data = new Float32Array(3 * h * w);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 256;
    const x = new ort.Tensor('float32', data, [1, 3, h, w]);
    for (let i = 0; i < 5; i++) await s.run({ input: x });
    const t = [];
    for (let i = 0; i < 30; i++) { const t0 = process.hrtime.bigint(); await s.run({ input: x }); t.push(Number(process.hrtime.bigint() - t0) / 1e6); }
    t.sort((a, b) => a - b);
    console.log(JSON.stringify({ input: hw, median_ms: +t[15].toFixed(2), min_ms: +t[0].toFixed(2) }));
  }
})();
