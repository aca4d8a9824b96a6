"""An H.264 packet's picture type (I, P or B), read from its slice header, before decoding.

The motion pass with ``motion_step`` (:mod:`scsampler.signals.motion`) hands the decoder only the
packets whose vectors it keeps, plus the keyframes: a P-frame's motion vectors are parsed from its
own bitstream (their prediction is spatial, within the frame), so they come out the same when the
frames between were never decoded. Choosing those packets needs each one's type while it is still
compressed, which FFmpeg does not report (only the keyframe flag); the picture headers say it in a
few bits: the ``slice_type`` of the packet's first slice (ITU-T H.264, 7.3.3), after the NAL length
prefixes of MP4/Matroska (their size given by the ``avcC`` extradata) or Annex B's start codes. SP
slices count as P and SI slices as I, as FFmpeg's ``pict_type`` reports them.

H.264 only: MPEG-4 Part 2 and MPEG-1/2 headers are as easy to read (``vop_coding_type``,
``picture_coding_type``), but FFmpeg's decoders of those exported no vectors for some P-frames whose
preceding P-frames were not decoded (1 of 11 on a test clip), so their motion needs the full pass.
Other codecs, and packets whose header cannot be read, give None: the caller decodes those as before.
"""

from __future__ import annotations

from typing import Callable

__all__ = ["packet_picture_type_reader"]

_H264_SLICE_TYPES = {0: "P", 1: "B", 2: "I", 3: "P", 4: "I"}  # slice_type % 5: P, B, I, SP, SI
_H264_SLICE_NALS = {1, 5}  # coded slice of a non-IDR / an IDR picture


def packet_picture_type_reader(codec: str, extradata: bytes | None) -> Callable[[bytes | memoryview], str | None] | None:
    """A function from a packet's bytes to ``"I"``, ``"P"``, ``"B"`` or None (unreadable); None for other codecs.

    ``extradata`` is the stream's codec extradata: for H.264 it tells length-prefixed NAL units
    (``avcC``, first byte 1) from Annex B byte streams. The function takes any buffer (a PyAV packet
    through ``memoryview``: length-prefixed units are then read without copying the packet).
    """
    if codec == "h264":
        if extradata and len(extradata) >= 5 and extradata[0] == 1:
            length_size = (extradata[4] & 3) + 1
            return lambda data: _h264_type(_length_prefixed_nals(memoryview(data), length_size))
        return lambda data: _h264_type(_annex_b_nals(bytes(data)))
    return None


def _length_prefixed_nals(data: memoryview, length_size: int):
    """The NAL units of an MP4/Matroska H.264 packet: each preceded by its size in ``length_size`` bytes."""
    at = 0
    while at + length_size < len(data):
        size = int.from_bytes(data[at : at + length_size], "big")
        at += length_size
        if size <= 0:
            return
        yield data[at : at + size]
        at += size


def _annex_b_nals(data: bytes):
    """The NAL units of an Annex B H.264 packet, split at its ``00 00 01`` start codes."""
    starts = []
    at = data.find(b"\x00\x00\x01")
    while at >= 0:
        starts.append(at + 3)
        at = data.find(b"\x00\x00\x01", at + 3)
    for number, start in enumerate(starts):
        end = starts[number + 1] - 3 if number + 1 < len(starts) else len(data)
        yield data[start:end]


def _h264_type(nals) -> str | None:
    """The picture type of the first slice among ``nals``; None if there is none or it cannot be read."""
    for nal in nals:
        if len(nal) < 2 or nal[0] & 0x1F not in _H264_SLICE_NALS:
            continue  # access unit delimiters, SEI, parameter sets
        header = _rbsp(bytes(nal[1:16]))
        bits = len(header) * 8
        value = int.from_bytes(header, "big")
        try:
            _, used = _unsigned_exp_golomb(value, 0, bits)  # first_mb_in_slice
            slice_type, _ = _unsigned_exp_golomb(value, used, bits)
        except ValueError:
            return None
        return _H264_SLICE_TYPES.get(slice_type % 5)
    return None


def _unsigned_exp_golomb(value: int, used: int, bits: int) -> tuple[int, int]:
    """The ``ue(v)`` code after the first ``used`` of the ``bits`` bits of ``value``, and the bits used after it.

    A code is N zeros, a one and N more bits; its value is those N + 1 bits, minus one.
    """
    rest = value & ((1 << (bits - used)) - 1)
    if rest == 0:
        raise ValueError("no Exp-Golomb code in the header's first bytes")
    zeros = (bits - used) - rest.bit_length()
    length = 2 * zeros + 1
    if used + length > bits:
        raise ValueError("an Exp-Golomb code runs past the header's first bytes")
    return (rest >> (bits - used - length)) - 1, used + length


def _rbsp(payload: bytes) -> bytes:
    """``payload`` without its emulation-prevention bytes (the 03 of each ``00 00 03``)."""
    if b"\x00\x00\x03" not in payload:
        return payload
    out = bytearray()
    zeros = 0
    for byte in payload:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)
