"""Readers: MLGWSC-1 and GWOSC files, common time, DQ masks, resampling, and bad input."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from preprocess.stream.config import SAMPLE_RATE, ReadOptions
from preprocess.stream.errors import BadSegmentError, StreamError
from preprocess.stream.gwosc import write_gwosc
from preprocess.stream.readers import ReadReport, read_segments

FS = SAMPLE_RATE
T0 = 1238166016  # GPS
OPTIONS = ReadOptions(min_duration=4.0, max_duration=None)


def _noise(rng: np.random.Generator, seconds: float, rate: int = FS) -> np.ndarray:
    return rng.standard_normal(int(seconds * rate)) * 1e-21


def write_mlgwsc(path: Path, segments: dict[str, list[tuple[float, np.ndarray]]],
                 rate: int = FS) -> None:
    """An MLGWSC-1 strain file: a group per detector, a dataset per segment."""
    with h5py.File(path, "w") as f:
        for detector, items in segments.items():
            for start, data in items:
                dataset = f.create_dataset(f"{detector}/{int(start)}", data=data)
                dataset.attrs.update(start_time=float(start), delta_t=1.0 / rate)


def _by_detector(segments: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for segment in segments:
        out.setdefault(segment.detector, []).append(segment)
    return out


def test_mlgwsc_values_times_and_gaps(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    h1 = [(T0, _noise(rng, 20)), (T0 + 30, _noise(rng, 10))]  # a 10-s gap
    l1 = [(T0 + 2, _noise(rng, 40))]  # starts 2 s later, covers both H1 segments
    write_mlgwsc(tmp_path / "s.hdf", {"H1": h1, "L1": l1})
    segments = _by_detector(read_segments(tmp_path / "s.hdf", options=OPTIONS))
    assert [(s.gps_start, len(s.data)) for s in segments["H1"]] == [(T0 + 2, 18 * FS),
                                                                   (T0 + 30, 10 * FS)]
    assert [s.gps_start for s in segments["L1"]] == [T0 + 2, T0 + 30]
    np.testing.assert_array_equal(segments["H1"][0].data, h1[0][1][2 * FS :])
    np.testing.assert_array_equal(segments["L1"][1].data, l1[0][1][28 * FS : 38 * FS])
    only = list(read_segments(tmp_path / "s.hdf", ["H1"], options=OPTIONS))
    assert [s.detector for s in only] == ["H1", "H1"] and only[0].gps_start == T0


def test_short_segments_are_skipped_and_counted(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    write_mlgwsc(tmp_path / "s.hdf", {"H1": [(T0, _noise(rng, 3)), (T0 + 10, _noise(rng, 8))]})
    report = ReadReport()
    segments = list(read_segments(tmp_path / "s.hdf", options=OPTIONS, report=report))
    assert [s.gps_start for s in segments] == [T0 + 10]
    assert (report.short, report.short_seconds, report.segments, report.seconds) == (1, 3, 1, 8)
    with pytest.raises(StreamError, match=r"s\.hdf: no common segment of at least 10 s "
                                          r"\(2 shorter ones, the longest 8 s, 11 s in all\); "
                                          r"pass --min-duration 8 to search it"):
        list(read_segments(tmp_path / "s.hdf", options=ReadOptions(min_duration=10.0)))


def test_gwosc_dq_mask_and_times(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    rate, seconds = 2 * FS, 32
    mask = np.full(seconds, 0b11)  # DATA and CBC_CAT1 on
    mask[10:12] = 0b01  # CAT1 off: data, but not analysed
    mask[20] = 0  # no data (GWOSC stores NaN there)
    strain = _noise(rng, seconds, rate)
    strain[20 * rate : 21 * rate] = np.nan
    write_gwosc(tmp_path / "H-H1.hdf5", "H1", T0, strain, rate, mask)
    segments = list(read_segments(tmp_path / "H-H1.hdf5", options=ReadOptions(min_duration=1.0)))
    # flagged seconds split segments; the FIR's 1 s at each end of a data stretch is dropped
    spans = [(s.gps_start - T0, len(s.data) / FS) for s in segments]
    assert spans == [(1, 9), (12, 7), (22, 9)]
    assert all(np.isfinite(s.data).all() and s.sample_rate == FS for s in segments)
    only_data = list(read_segments(tmp_path / "H-H1.hdf5",
                                   options=ReadOptions(dq_bits=("DATA",), min_duration=1.0)))
    assert [(s.gps_start - T0, len(s.data) / FS) for s in only_data] == [(1, 18), (22, 9)]
    with pytest.raises(StreamError, match=r"H-H1\.hdf5: GWOSC file has no DQ bit CAT9; its "
                                          "DQShortnames are DATA, CBC_CAT1"):
        list(read_segments(tmp_path / "H-H1.hdf5", options=ReadOptions(dq_bits=("CAT9",))))


def test_resampling_passband_within_a_tenth_of_a_db_to_800_hz(tmp_path: Path) -> None:
    rate, seconds = 4 * FS, 16
    t = np.arange(seconds * rate) / rate
    freqs = np.array([20.0, 100.0, 300.0, 500.0, 700.0, 800.0])
    tones = sum(np.sin(2 * np.pi * f * t + f) for f in freqs) + np.sin(2 * np.pi * 1500 * t)
    write_gwosc(tmp_path / "h.hdf5", "H1", T0, tones * 1e-21, rate)
    segment, = read_segments(tmp_path / "h.hdf5", options=ReadOptions(min_duration=1.0))
    n = len(segment.data)
    spectrum = np.abs(np.fft.rfft(segment.data * np.hanning(n))) * 2 / np.hanning(n).sum()
    bins = np.fft.rfftfreq(n, 1 / FS)
    for f in freqs:  # whole-Hz tones on a 1/14-Hz grid: read the peak within two bins
        peak = spectrum[np.abs(bins - f) < 2 / (n / FS)].max() / 1e-21
        assert abs(20 * np.log10(peak)) < 0.1, f
    # 1500 Hz lies above the new Nyquist frequency: rejected (78 dB), not folded onto 548 Hz
    assert spectrum[np.abs(bins - (FS - 1500)) < 2].max() / 1e-21 < 10 ** (-60 / 20)


def test_files_of_one_detector_join_and_detectors_combine(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rate = 2 * FS
    whole = _noise(rng, 64, rate)
    write_gwosc(tmp_path / "H-1.hdf5", "H1", T0, whole[: 32 * rate], rate)
    write_gwosc(tmp_path / "H-2.hdf5", "H1", T0 + 32, whole[32 * rate :], rate)
    write_gwosc(tmp_path / "H-all.hdf5", "H1", T0, whole, rate)
    write_gwosc(tmp_path / "L.hdf5", "L1", T0 + 8, _noise(rng, 64, rate), rate)
    files = [tmp_path / n for n in ("H-2.hdf5", "L.hdf5", "H-1.hdf5")]  # any order
    h1, l1 = read_segments(files, options=OPTIONS)
    assert (h1.gps_start, l1.gps_start, len(h1.data)) == (T0 + 9, T0 + 9, 54 * FS)
    reference, = read_segments(tmp_path / "H-all.hdf5", options=OPTIONS)
    # resampled across the file boundary: the same samples as from one file
    np.testing.assert_array_equal(h1.data, reference.data[8 * FS : 62 * FS])


def test_detectors_that_never_overlap_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    write_gwosc(tmp_path / "H.hdf5", "H1", T0, _noise(rng, 16), FS)
    write_gwosc(tmp_path / "L.hdf5", "L1", T0 + 100, _noise(rng, 16), FS)
    with pytest.raises(StreamError, match=r"H\.hdf5: H1 \(GPS 1238166016-1238166032\) and L1 "
                                          r"in .*L\.hdf5 \(GPS .*\) never overlap in time"):
        list(read_segments([tmp_path / "H.hdf5", tmp_path / "L.hdf5"], options=OPTIONS))
    with pytest.raises(StreamError, match=r"no file holds V1 data \(found: H1\)"):
        list(read_segments(tmp_path / "H.hdf5", ["V1"], options=OPTIONS))


def test_bad_values_stop_the_reading_or_are_skipped_and_counted(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    bad = _noise(rng, 8)
    bad[3 * FS + 5] = np.nan
    loud, flat = _noise(rng, 8), _noise(rng, 8)
    loud[100], flat[2 * FS : 3 * FS] = 1e-10, 0.0
    write_mlgwsc(tmp_path / "s.hdf", {"L1": [(T0, bad), (T0 + 10, loud), (T0 + 20, flat),
                                             (T0 + 30, _noise(rng, 8))]})
    with pytest.raises(BadSegmentError) as caught:
        list(read_segments(tmp_path / "s.hdf", options=OPTIONS))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 's.hdf'}: L1 segment GPS 1238166016-1238166024: "
                              "non-finite values from GPS 1238166019.002")
    assert message.endswith("(pass --skip-bad to skip such segments)")
    report = ReadReport()
    kept = list(read_segments(tmp_path / "s.hdf", options=ReadOptions(
        min_duration=4.0, max_duration=None, skip_bad=True), report=report))
    assert [s.gps_start for s in kept] == [T0 + 30]
    assert (report.bad, report.bad_seconds) == (3, 24)
    assert "implausible for strain" in report.problems[1] and "constant" in report.problems[2]


def test_unknown_layouts_and_missing_attributes_are_named(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not strain\n")
    with pytest.raises(StreamError, match=r"notes\.txt: not an HDF5 file"):
        list(read_segments(tmp_path / "notes.txt"))
    with h5py.File(tmp_path / "odd.h5", "w") as f:
        f["table"] = np.arange(3)
    with pytest.raises(StreamError, match=r"odd\.h5: unknown layout: .* it holds table"):
        list(read_segments(tmp_path / "odd.h5"))
    write_mlgwsc(tmp_path / "m.hdf", {"H1": [(T0, _noise(np.random.default_rng(6), 8))]})
    with h5py.File(tmp_path / "m.hdf", "a") as f:
        del f[f"H1/{T0}"].attrs["delta_t"]
    with pytest.raises(StreamError, match=rf"m\.hdf: MLGWSC-1 file: dataset H1/{T0} lacks "
                                          "attribute delta_t"):
        list(read_segments(tmp_path / "m.hdf"))
    write_gwosc(tmp_path / "g.hdf5", "H1", T0, _noise(np.random.default_rng(7), 8), FS)
    with h5py.File(tmp_path / "g.hdf5", "a") as f:
        del f["strain/Strain"].attrs["Xspacing"]
    with pytest.raises(StreamError, match=r"g\.hdf5: GWOSC file: /strain/Strain lacks "
                                          "attribute Xspacing"):
        list(read_segments(tmp_path / "g.hdf5"))
    with pytest.raises(StreamError, match="no such file"):
        list(read_segments(tmp_path / "missing.h5"))


def _gwspec_chunk(small_stream: Path, tmp_path: Path, change) -> Path:
    """A copy of one foreground chunk of ``small_stream``, changed by ``change(h5py.File)``."""
    source = sorted((small_stream / "foreground").glob("*.h5"))[0]
    path = tmp_path / source.name
    path.write_bytes(source.read_bytes())
    with h5py.File(path, "r+") as f:
        change(f)
    return path


def _replace(f: h5py.File, name: str, data: np.ndarray) -> None:
    del f[name]
    f[name] = data


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.attrs.__setitem__("sample_rate", 4096),
     r"/strain/H1: 65536 samples, but a duration of 32 s at 4096 Hz is 131072"),
    (lambda f: f.attrs.__setitem__("sample_rate", 0),
     "/strain/H1: sample rate 0 Hz is not a whole multiple of 2048 Hz"),
    (lambda f: f.attrs.__setitem__("gps_start", np.nan),
     "/strain/H1: start time is nan, not a finite number"),
    (lambda f: f.attrs.__setitem__("gps_start", 1e20),
     "/strain/H1: start time 1e\\+20 is outside the GPS range"),
    (lambda f: _replace(f, "strain/H1", np.zeros((65536, 2), np.float32)),
     r"/strain/H1: strain must be a 1-D array of numbers, got float32 \(65536, 2\)"),
    (lambda f: f.attrs.__setitem__("detectors", "H1 .."),
     "unknown detector '..'"),
    (lambda f: f.attrs.__setitem__("detectors", "H1 H1"),
     "must name distinct detectors"),
], ids=["rate-against-duration", "rate-zero", "start-nan", "start-beyond-gps", "two-d",
        "detector-path", "detector-twice"])
def test_every_stream_attribute_is_checked_against_the_others(small_stream, tmp_path, change,
                                                              message) -> None:
    path = _gwspec_chunk(small_stream, tmp_path, change)
    with pytest.raises(StreamError, match=rf"{path.name}: .*{message}"):
        list(read_segments(path, options=OPTIONS))


@pytest.mark.parametrize(("attribute", "value", "message"), [
    ("delta_t", "abc", "delta_t 'abc' is not a number"),
    ("delta_t", np.nan, "delta_t is nan, not a finite number"),
    ("delta_t", 0.0, "delta_t 0.0 must be > 0 s"),
    ("start_time", 1e20, "start time 1e\\+20 is outside the GPS range"),
], ids=["delta-t-text", "delta-t-nan", "delta-t-zero", "start-beyond-gps"])
def test_mlgwsc_attributes_are_checked(tmp_path, attribute, value, message) -> None:
    write_mlgwsc(tmp_path / "s.hdf", {"H1": [(T0, _noise(np.random.default_rng(2), 8))]})
    with h5py.File(tmp_path / "s.hdf", "r+") as f:
        f[f"H1/{T0}"].attrs[attribute] = value
    with pytest.raises(StreamError, match=rf"s\.hdf: /H1/{T0}: {message}"):
        list(read_segments(tmp_path / "s.hdf", options=OPTIONS))


def test_gwosc_attributes_and_names_are_checked(tmp_path) -> None:
    rng = np.random.default_rng(3)
    path = tmp_path / "g.hdf5"
    for change, message in [
        (lambda f: f["strain/Strain"].attrs.__setitem__("Xspacing", 0.0), "Xspacing 0.0 must "
                                                                           "be > 0 s"),
        (lambda f: f["strain/Strain"].attrs.__setitem__("Xstart", "abc"),
         "start time 'abc' is not a number"),
        (lambda f: _replace(f, "meta/Detector", np.bytes_(b"../../PWNED_DET")),
         "unknown detector '../../PWNED_DET'"),
    ]:
        write_gwosc(path, "H1", T0, _noise(rng, 8, 4096), 4096)
        with h5py.File(path, "r+") as f:
            change(f)
        with pytest.raises(StreamError, match=rf"g\.hdf5: .*{message}"):
            list(read_segments(path, options=OPTIONS))


def test_a_dq_bit_that_passes_nothing_leaves_nothing_to_analyse(tmp_path) -> None:
    rng = np.random.default_rng(4)
    mask = np.full(16, 127 & ~2)  # CBC_CAT1 off in every second
    write_gwosc(tmp_path / "h.hdf5", "H1", T0, _noise(rng, 16, 4096), 4096, dq_mask=mask)
    with pytest.raises(StreamError, match="h.hdf5: H1: no second has data with DQ bits DATA "
                                          "CBC_CAT1 on"):
        list(read_segments(tmp_path / "h.hdf5", options=OPTIONS))
    found = list(read_segments(tmp_path / "h.hdf5", options=ReadOptions(
        dq_bits=("DATA",), min_duration=4.0, max_duration=None)))
    assert sum(len(s.data) for s in found) == 14 * FS  # DATA alone passes (less the trim)


def test_damaged_strain_bytes_are_a_bad_segment_naming_the_file(small_stream, tmp_path) -> None:
    path = _gwspec_chunk(small_stream, tmp_path, lambda f: None)
    raw = bytearray(path.read_bytes())
    with h5py.File(path) as f:  # the byte offset of the first chunk of H1's strain
        offset = f["strain/H1"].id.get_chunk_info(0).byte_offset
    raw[offset + 4096 : offset + 4160] = bytes(64)
    path.write_bytes(bytes(raw))
    with pytest.raises(BadSegmentError, match=rf"{path.name}: H1 segment GPS .*/strain/H1 cannot "
                                              "be read .*--skip-bad"):
        list(read_segments(path, options=OPTIONS))
    report = ReadReport()
    assert not list(read_segments(path, options=ReadOptions(min_duration=4.0, skip_bad=True,
                                                            max_duration=None), report=report))
    assert report.bad == 1 and "cannot be read" in report.problems[0]
