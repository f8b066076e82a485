"""Reference timings: the same ONNX models on the same input tensors in onnxruntime.

Called by the `face-bench` binary (crates/face/src/bin/face_bench.rs) with a folder holding
<model>.bin (raw little-endian f32) and inputs.json ({model: {file, shape}}). Prints one JSON
object: {model: {"ms_1thread": ..., "ms_2threads": ..., "version": ...}}.
Not part of the kiosk; the bench creates the virtualenv it runs in.
"""
import json
import sys
import time

import numpy as np
import onnxruntime as ort


def bench(path, x, threads, iters):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    for _ in range(2):
        s.run(None, {name: x})
    t = time.perf_counter()
    for _ in range(iters):
        s.run(None, {name: x})
    return (time.perf_counter() - t) * 1000.0 / iters


def main():
    folder, models_dir = sys.argv[1], sys.argv[2]
    spec = json.load(open(f"{folder}/inputs.json"))
    out = {}
    for model, m in spec.items():
        x = np.fromfile(f"{folder}/{model}.bin", dtype="<f4").reshape(m["shape"])
        path = f"{models_dir}/{m['file']}"
        iters = m.get("iters", 20)
        out[model] = {
            "ms_1thread": bench(path, x, 1, iters),
            "ms_2threads": bench(path, x, 2, iters),
            "version": ort.__version__,
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
