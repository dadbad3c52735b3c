"""Reader for ncnn's model format (.param text graph + .bin weights).

Only what GenFarm's model conversion needs: parse the layer graph, and read
the weights of Convolution / Deconvolution layers with ncnn's own rules
(`ModelBinFromDataReader::load`):

  * weight blobs are loaded with `type 0`: a 4-byte flag word precedes the
    data.  0 -> float32, 0x01306B47 -> float16 (payload padded to 4 bytes).
    Quantised tables (any other non-zero flag) are rejected.
  * bias blobs are loaded with `type 1`: raw float32, no flag.

Every error raises `NcnnFormatError` whose message names the file.

Example:
    graph = read_param("flownet.param")
    weights = read_bin("flownet.bin", graph)   # {layer name: {"weight", "bias"}}
"""

import struct
from typing import Dict, List, Union

import numpy as np

PARAM_MAGIC = 7767517
TAG_FP16 = 0x01306B47
TAG_INT8 = 0x000D4B38

ParamValue = Union[int, float, List[Union[int, float]]]

# Layer types that carry weights in the .bin file, in the order ncnn loads them.
WEIGHTED_TYPES = ("Convolution", "Deconvolution")
# Weighted layer types this reader does not implement: fail loudly rather than
# silently misaligning every following blob.
UNSUPPORTED_WEIGHTED_TYPES = (
    "ConvolutionDepthWise", "DeconvolutionDepthWise", "InnerProduct", "BatchNorm",
    "Scale", "PReLU", "MemoryData", "Embed", "LayerNorm", "GroupNorm",
    "InstanceNorm", "Convolution1D", "Convolution3D", "Deconvolution1D",
    "Deconvolution3D", "MultiHeadAttention", "LSTM", "GRU", "RNN",
)


class NcnnFormatError(ValueError):
    """A malformed or unsupported .param/.bin file."""


class Layer:
    def __init__(self, type_: str, name: str, inputs: List[str], outputs: List[str],
                 params: Dict[int, ParamValue]):
        self.type = type_
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
        self.params = params

    def get(self, key: int, default: ParamValue) -> ParamValue:
        return self.params.get(key, default)

    def __repr__(self) -> str:
        return "Layer(%s %s %s->%s %s)" % (self.type, self.name, self.inputs, self.outputs,
                                           self.params)


def _parse_scalar(text: str, path: str, line_no: int) -> Union[int, float]:
    try:
        if any(c in text for c in ".eE") and not text.lower().startswith("0x"):
            return float(text)
        return int(text)
    except ValueError:
        raise NcnnFormatError("%s:%d: bad parameter value %r" % (path, line_no, text))


def read_param(path: str) -> List[Layer]:
    """Parses an ncnn .param text file into a list of layers (file order)."""
    try:
        with open(path, "r", encoding="ascii") as f:
            lines = [ln.strip() for ln in f.read().splitlines()]
    except (OSError, UnicodeDecodeError) as e:
        raise NcnnFormatError("%s: cannot read param file: %s" % (path, e))
    lines = [ln for ln in lines if ln]
    if len(lines) < 2:
        raise NcnnFormatError("%s: truncated param file (%d lines)" % (path, len(lines)))
    if lines[0] != str(PARAM_MAGIC):
        raise NcnnFormatError("%s: bad magic %r, expected %d" % (path, lines[0], PARAM_MAGIC))
    try:
        layer_count, blob_count = (int(x) for x in lines[1].split())
    except ValueError:
        raise NcnnFormatError("%s:2: bad layer/blob count line %r" % (path, lines[1]))
    body = lines[2:]
    if len(body) != layer_count:
        raise NcnnFormatError("%s: header says %d layers, file has %d" %
                              (path, layer_count, len(body)))
    layers: List[Layer] = []
    blobs = set()
    for i, line in enumerate(body):
        line_no = i + 3
        tok = line.split()
        if len(tok) < 4:
            raise NcnnFormatError("%s:%d: truncated layer line %r" % (path, line_no, line))
        type_, name = tok[0], tok[1]
        try:
            n_in, n_out = int(tok[2]), int(tok[3])
        except ValueError:
            raise NcnnFormatError("%s:%d: bad input/output counts" % (path, line_no))
        if len(tok) < 4 + n_in + n_out:
            raise NcnnFormatError("%s:%d: layer %s lists fewer blobs than declared" %
                                  (path, line_no, name))
        inputs = tok[4:4 + n_in]
        outputs = tok[4 + n_in:4 + n_in + n_out]
        params: Dict[int, ParamValue] = {}
        for kv in tok[4 + n_in + n_out:]:
            if "=" not in kv:
                raise NcnnFormatError("%s:%d: bad parameter %r" % (path, line_no, kv))
            k_text, v_text = kv.split("=", 1)
            try:
                key = int(k_text)
            except ValueError:
                raise NcnnFormatError("%s:%d: bad parameter key %r" % (path, line_no, k_text))
            if key <= -23300:  # array parameter: -23300-id=count,v0,v1,...
                items = v_text.split(",")
                count = _parse_scalar(items[0], path, line_no)
                values = [_parse_scalar(x, path, line_no) for x in items[1:]]
                if count != len(values):
                    raise NcnnFormatError("%s:%d: array parameter %d declares %s values, has %d"
                                          % (path, line_no, key, count, len(values)))
                params[-key - 23300] = values
            else:
                params[key] = _parse_scalar(v_text, path, line_no)
        for b in inputs:
            if b not in blobs:
                raise NcnnFormatError("%s:%d: layer %s reads blob %r before it is produced"
                                      % (path, line_no, name, b))
        blobs.update(outputs)
        layers.append(Layer(type_, name, inputs, outputs, params))
    if len(blobs) != blob_count:
        raise NcnnFormatError("%s: header says %d blobs, layers produce %d" %
                              (path, blob_count, len(blobs)))
    return layers


class _Reader:
    def __init__(self, path: str, data: bytes):
        self.path = path
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise NcnnFormatError("%s: truncated at byte %d while reading %s (%d bytes needed, "
                                  "file has %d)" % (self.path, self.pos, what, n, len(self.data)))
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def weight(self, count: int, what: str) -> np.ndarray:
        """ncnn `load(w, type=0)`: flag word, then float32 or padded float16 data."""
        flag_bytes = self.take(4, what + " flag")
        (tag,) = struct.unpack("<I", flag_bytes)
        if tag == TAG_FP16:
            raw = self.take((count * 2 + 3) // 4 * 4, what + " (fp16)")
            return np.frombuffer(raw[:count * 2], dtype="<f2").astype(np.float32)
        if tag == TAG_INT8:
            raise NcnnFormatError("%s: %s is int8-quantised; not supported" % (self.path, what))
        if sum(flag_bytes) != 0:
            raise NcnnFormatError("%s: %s has unsupported storage flag 0x%08X at byte %d"
                                  % (self.path, what, tag, self.pos - 4))
        return self.raw_float32(count, what)

    def raw_float32(self, count: int, what: str) -> np.ndarray:
        """ncnn `load(w, type=1)`: raw float32, no flag."""
        raw = self.take(count * 4, what)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def read_bin(path: str, layers: List[Layer]) -> Dict[str, Dict[str, np.ndarray]]:
    """Reads weights for every weighted layer; the whole file must be consumed."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise NcnnFormatError("%s: cannot read bin file: %s" % (path, e))
    reader = _Reader(path, data)
    out: Dict[str, Dict[str, np.ndarray]] = {}
    for layer in layers:
        if layer.type in UNSUPPORTED_WEIGHTED_TYPES:
            raise NcnnFormatError("%s: layer %s has type %s, whose weights this reader does not "
                                  "support" % (path, layer.name, layer.type))
        if layer.type not in WEIGHTED_TYPES:
            continue
        num_output = int(layer.get(0, 0))
        weight_size = int(layer.get(6, 0))
        if num_output <= 0 or weight_size <= 0:
            raise NcnnFormatError("%s: layer %s lacks num_output/weight_data_size" %
                                  (path, layer.name))
        entry = {"weight": reader.weight(weight_size, "weights of " + layer.name)}
        if int(layer.get(5, 0)):
            entry["bias"] = reader.raw_float32(num_output, "bias of " + layer.name)
        out[layer.name] = entry
    if reader.pos != len(data):
        raise NcnnFormatError("%s: %d trailing bytes after the last weight (consumed %d of %d); "
                              "the file does not match its .param" %
                              (path, len(data) - reader.pos, reader.pos, len(data)))
    return out
