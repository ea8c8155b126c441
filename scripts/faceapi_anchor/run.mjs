#!/usr/bin/env node
// Run @vladmandic/face-api 1.7.15 (SSD MobileNetV1 or TinyFaceDetector + full
// faceLandmark68Net) on a list of images and write the detections as JSON.
//
//   node run.mjs LIST.txt OUT.json [--detector ssd|tiny] [--pad P] [--min-score S]
//
// Backend: @tensorflow/tfjs-backend-wasm (single thread), loaded from
// node_modules. Models: node_modules/@vladmandic/face-api/model. Nothing is
// downloaded at run time. See README.md.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function usage(msg) {
  if (msg) console.error(`error: ${msg}`);
  console.error('usage: node run.mjs LIST.txt OUT.json [--detector ssd|tiny] [--pad P] [--min-score S]');
  process.exit(2);
}

function parseArgs(argv) {
  const pos = [];
  const opt = { detector: 'ssd', pad: 0, minScore: 0.5 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf('=');
    const key = a.startsWith('--') ? (eq > 0 ? a.slice(2, eq) : a.slice(2)) : null;
    if (key === null) { pos.push(a); continue; }
    const val = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (val === undefined) usage(`--${key} needs a value`);
    if (key === 'detector') {
      if (val !== 'ssd' && val !== 'tiny') usage(`--detector must be ssd or tiny, got ${val}`);
      opt.detector = val;
    } else if (key === 'pad') {
      const p = Number(val);
      if (!Number.isFinite(p) || p < 0) usage(`--pad must be a number >= 0, got ${val}`);
      opt.pad = p;
    } else if (key === 'min-score') {
      const m = Number(val);
      if (!(m > 0 && m < 1)) usage(`--min-score must be in (0, 1), got ${val}`);
      opt.minScore = m;
    } else {
      usage(`unknown option --${key}`);
    }
  }
  if (pos.length !== 2) usage('need LIST.txt and OUT.json');
  [opt.list, opt.out] = pos;
  return opt;
}

// ---------------------------------------------------------------- decoding
// Every decoder returns { width, height, rgb: Uint8Array(width*height*3) }.

function decodeJpeg(buf) {
  const jpeg = require('jpeg-js');
  const img = jpeg.decode(buf, {
    useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048, maxResolutionInMP: 200,
  });
  return { width: img.width, height: img.height, rgb: img.data };
}

function decodePng(buf) {
  const { PNG } = require('pngjs');
  const png = PNG.sync.read(buf); // always 8-bit RGBA (palette, gray, 16-bit converted)
  const n = png.width * png.height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) { // alpha is dropped, not composited
    rgb[3 * i] = png.data[4 * i];
    rgb[3 * i + 1] = png.data[4 * i + 1];
    rgb[3 * i + 2] = png.data[4 * i + 2];
  }
  return { width: png.width, height: png.height, rgb };
}

// Binary netpbm: P6 (RGB) and P5 (gray), maxval 1..65535 (rescaled to 0..255).
function decodePnm(buf) {
  const magic = buf.toString('latin1', 0, 2);
  let pos = 2;
  const fields = [];
  while (fields.length < 3) {
    while (pos < buf.length && /\s/.test(String.fromCharCode(buf[pos]))) pos++;
    if (pos >= buf.length) throw new Error('truncated PNM header');
    if (buf[pos] === 0x23) { // '#' comment to end of line
      while (pos < buf.length && buf[pos] !== 0x0a && buf[pos] !== 0x0d) pos++;
      continue;
    }
    let s = '';
    while (pos < buf.length && /[0-9]/.test(String.fromCharCode(buf[pos]))) s += String.fromCharCode(buf[pos++]);
    if (!s) throw new Error('bad PNM header');
    fields.push(Number(s));
  }
  pos++; // exactly one whitespace byte before the raster
  const [width, height, maxval] = fields;
  if (!(width > 0 && height > 0 && maxval > 0 && maxval < 65536)) throw new Error('bad PNM header values');
  const ch = magic === 'P6' ? 3 : 1;
  const bps = maxval < 256 ? 1 : 2;
  const need = width * height * ch * bps;
  if (buf.length - pos < need) throw new Error(`truncated PNM raster (${buf.length - pos} of ${need} bytes)`);
  const n = width * height;
  const rgb = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 3; c++) {
      const k = i * ch + (ch === 3 ? c : 0);
      let v = bps === 1 ? buf[pos + k] : buf.readUInt16BE(pos + 2 * k);
      if (maxval !== 255) v = Math.round((v * 255) / maxval);
      rgb[3 * i + c] = v;
    }
  }
  return { width, height, rgb };
}

function decodeImage(file) {
  const buf = fs.readFileSync(file);
  if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8 && buf[2] === 0xff) return decodeJpeg(buf);
  if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47) return decodePng(buf);
  if (buf.length >= 2 && buf[0] === 0x50 && (buf[1] === 0x36 || buf[1] === 0x35)) return decodePnm(buf);
  throw new Error('unsupported image format (expected JPEG, PNG or binary PPM/PGM)');
}

// Frame with black borders of padX / padY pixels on each side.
function padRgb(img, padX, padY) {
  if (padX === 0 && padY === 0) return img;
  const W = img.width + 2 * padX;
  const H = img.height + 2 * padY;
  const out = new Uint8Array(W * H * 3);
  const row = img.width * 3;
  for (let y = 0; y < img.height; y++) {
    out.set(img.rgb.subarray(y * row, (y + 1) * row), ((y + padY) * W + padX) * 3);
  }
  return { width: W, height: H, rgb: out };
}

// ---------------------------------------------------------------- main
async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const t0 = performance.now();

  const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const { tf } = faceapi;
  // Single-threaded SIMD wasm, from the local package (no CDN).
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  tf.setWasmPaths(`${wasmDir}${path.sep}`);
  if (!(await tf.setBackend('wasm'))) throw new Error('could not initialise the wasm backend');
  await tf.ready();

  const modelDir = path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
  let options;
  if (opt.detector === 'ssd') {
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(modelDir);
    options = new faceapi.SsdMobilenetv1Options({ minConfidence: opt.minScore });
  } else {
    await faceapi.nets.tinyFaceDetector.loadFromDisk(modelDir);
    options = new faceapi.TinyFaceDetectorOptions({ inputSize: 416, scoreThreshold: opt.minScore });
  }
  await faceapi.nets.faceLandmark68Net.loadFromDisk(modelDir);
  const faVersion = JSON.parse(fs.readFileSync(path.join(modelDir, '..', 'package.json'), 'utf8')).version;

  const files = fs.readFileSync(opt.list, 'utf8').split(/\r?\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  console.error(`face-api ${faVersion}, tfjs ${tf.version_core}, backend ${tf.getBackend()} (simd ${await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')}), `
    + `detector ${opt.detector}, min score ${opt.minScore}, pad ${opt.pad}, ${files.length} images (setup ${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  const images = {};
  let nFace = 0;
  let nErr = 0;
  const tRun = performance.now();
  for (let i = 0; i < files.length; i++) {
    const file = files[i];
    if (Object.prototype.hasOwnProperty.call(images, file)) continue; // duplicate line
    let entry;
    try {
      const img = decodeImage(file);
      const padX = Math.round(opt.pad * img.width);
      const padY = Math.round(opt.pad * img.height);
      const p = padRgb(img, padX, padY);
      const input = tf.tensor3d(Int32Array.from(p.rgb), [p.height, p.width, 3], 'int32');
      let res;
      try {
        res = await faceapi.detectAllFaces(input, options).withFaceLandmarks();
      } finally {
        input.dispose();
      }
      const faces = res.map((r) => {
        const b = r.detection.box;
        return {
          score: r.detection.score,
          box: [b.x - padX, b.y - padY, b.width, b.height],
          landmarks: r.landmarks.positions.map((pt) => [pt.x - padX, pt.y - padY]),
        };
      }).sort((a, b) => b.score - a.score);
      entry = { width: img.width, height: img.height, faces };
      if (faces.length > 0) nFace++;
    } catch (e) {
      nErr++;
      const msg = (e && e.message) ? e.message : String(e);
      console.error(`error: ${file}: ${msg}`);
      entry = { error: msg };
    }
    images[file] = entry;
    const done = i + 1;
    if (done % 200 === 0) {
      const el = (performance.now() - tRun) / 1000;
      console.error(`  ${done}/${files.length} images, ${el.toFixed(1)} s, ${((1000 * el) / done).toFixed(0)} ms/image, `
        + `${nFace} with a face, ${nErr} errors, ${tf.memory().numTensors} live tensors`);
    }
  }

  const out = {
    tool: `@vladmandic/face-api ${faVersion}`,
    detector: opt.detector,
    min_score: opt.minScore,
    pad: opt.pad,
    backend: `@tensorflow/tfjs-backend-wasm ${tf.version_core}`,
    images,
  };
  const outAbs = path.resolve(opt.out);
  const tmp = path.join(path.dirname(outAbs), `.${path.basename(outAbs)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, JSON.stringify(out));
  fs.renameSync(tmp, outAbs);

  const n = Object.keys(images).length;
  const tRunS = (performance.now() - tRun) / 1000;
  console.error(`done: ${n} images, ${nFace} with >=1 face, ${nErr} errors; detection ${tRunS.toFixed(1)} s `
    + `(${n ? ((1000 * tRunS) / n).toFixed(0) : 0} ms/image); total ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${opt.out}`);
}

main().catch((e) => {
  console.error(`fatal: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
