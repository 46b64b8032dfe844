"""Seeded fuzzing of every decoder: random, truncated, oversized and bit-flipped packets give the one
decode error type (``coach.errors.DecodeError``) or a valid packet: never another exception, never a
hang, never a non-finite value.

The seed is printed; pin it with ``COACH_FUZZ_SEED=<n>`` to replay a failure. Seed packets are written out
here (from docs/protocols/), independent of the drivers' constants.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable

import numpy as np
import pytest

from coach.errors import DecodeError
from drivers import coach_imu, metamotion, movesense, polar_verity, thingy52, witmotion
from drivers.base import Packet, StreamDecoder
from drivers.profiles import PROFILES, make_profile

SEED = int(os.environ.get("COACH_FUZZ_SEED", random.SystemRandom().randrange(2**32)))
ROUNDS = int(os.environ.get("COACH_FUZZ_ROUNDS", "1500"))


@pytest.fixture(scope="module", autouse=True)
def _announce_seed() -> None:
    print(f"\nfuzz seed: COACH_FUZZ_SEED={SEED}")


VALID: dict[str, list[str]] = {
    "witmotion": [
        "55 61 00 00 00 FC 00 08 10 00 B8 FE 00 00 00 40 00 C0 FF 7F",
        "55 71 3A 00 68 01 69 00 7A 00 00 00 00 00 00 00 00 00 00 00",
    ],
    "metamotion": [
        "03 04 16 c4 94 a2 2a d0",
        "03 05 62 b7 53 0d e9 fd 16 d0 4d 0e 57 02 8a ff a1 05 0a 01",
        "13 05 09 15 ad 26 08 de 8a 1a 0d 26 65 e4 8d 20 ac 27 73 ec",
        "19 07 1b 9b 70 3f 8c 5e 4d bd 07 7f 1d be 78 02 9a be",
        "19 04 20 3e 53 c5 0c fe 79 46 0c fe 79 c6 00",
        "09 03 00 a6 33 0d 00 c1 00 b1 24 19 cd",
        "11 8c 63 34 10",
        "19 80 00 03 03 00 06 00 02 00 01 00",
    ],
    "polar-verity": [
        "02 00 00 00 00 00 00 00 00 80 D0 FF 65 01 E4 0F 08 02 FC 07 FF 0C 13 F2",
        "02 65 00 00 00 00 00 00 00 81 F1 FF 14 00 F0 03 06 01 7B 0F 08",
        "05 00 94 35 77 00 00 00 00 81 00 00 80 3F 00 00 20 41 00 00 A0 41 1C 01"
        " 00 00 A0 01 00 00 08 CD CC EC 0D",
        "06 00 94 35 77 00 00 00 00 80 E2 E6 FA 15 49 0A 06 01 7F 20 FC",
        "F0 02 01 00 00 05 01 00 00 20 40",
        "02 00 94 35 77 00 00 00 00 01 F7 FF FF FF E7 03 F8 FF FE FF E5 03",
    ],
    "movesense": [
        "02 63 88 13 00 00 00 00 00 3F 00 00 80 BE 00 00 1D 41 00 00 40 3F 00 00 00 BF 00 00 1C 41"
        " 00 00 C0 3F 00 00 10 C0 00 00 00 00 00 00 40 40 00 00 00 3E 00 00 80 BF",
        "01 63 48 65 6C 6C 6F",
        "01 63 01 FB",
    ],
    "thingy52": ["00 00 00 FE 00 04 20 00 60 FF 00 00 20 03 C0 FE 10 00"],
    "coach-imu": [
        "11 02 E8 03 40 4B 4C 00 10 27 08 00 D0 07 00 00 00 00 00 00 00 10 A4 00 00 00 5C FF"
        " 00 08 00 F8 00 10 00 00 FF 7F 00 80",
        "81 00 64 00 08 D0 07",
    ],
}

# Every pure decoder, per profile (all must raise DecodeError on bad input and nothing else).
PURE: dict[str, list[Callable[[bytes], Packet]]] = {
    "witmotion": [witmotion.decode_packet],
    "metamotion": [
        lambda b: metamotion.decode_packet(b, metamotion.DecodeSettings(chip="bmi160")),
        lambda b: metamotion.decode_packet(b, metamotion.DecodeSettings(chip="bmi270", accounter="time")),
        lambda b: metamotion.decode_packet(b, metamotion.DecodeSettings(accounter="count")),
    ],
    "polar-verity": [
        lambda b: polar_verity.frame_to_packet(polar_verity.decode_frame(b)),
        lambda b: polar_verity.frame_to_packet(polar_verity.decode_frame(b, previous_ns=1 << 40)),
        polar_verity.decode_control,
        lambda b: (polar_verity.parse_settings(b), Packet("info"))[1],
    ],
    "movesense": [
        lambda b: movesense.decode_data(b, "IMU6", 104),
        lambda b: movesense.decode_data(b, "IMU9", 52),
        lambda b: movesense.decode_result(b) if len(b) >= 2 else movesense.decode_data(b),
    ],
    "thingy52": [
        thingy52.decode_raw,
        thingy52.decode_motion_config,
        thingy52.decode_quaternion,
        thingy52.decode_euler,
        thingy52.decode_connection_parameters,
    ],
    "coach-imu": [
        coach_imu.decode_packet,
        coach_imu.decode_control,
        coach_imu.decode_info,
        coach_imu.decode_data,
    ],
}


def _mutations(rng: random.Random, valid: list[bytes]) -> list[bytes]:
    out: list[bytes] = []
    for _ in range(ROUNDS):
        base = rng.choice(valid)
        kind = rng.randrange(6)
        if kind == 0:  # random bytes of random length
            out.append(rng.randbytes(rng.randrange(0, 260)))
        elif kind == 1:  # truncated
            out.append(base[: rng.randrange(0, len(base))])
        elif kind == 2:  # oversized
            out.append(base + rng.randbytes(rng.randrange(1, 64)))
        elif kind == 3:  # bit flips
            b = bytearray(base)
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(len(b))
                b[i] ^= 1 << rng.randrange(8)
            out.append(bytes(b))
        elif kind == 4:  # a valid header with a random body
            out.append(base[:2] + rng.randbytes(rng.randrange(0, 2 * len(base))))
        else:  # random byte substitutions
            b = bytearray(base)
            for _ in range(rng.randrange(1, 6)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            out.append(bytes(b))
    return out


def _check_packet(packet: Packet) -> None:
    assert isinstance(packet, Packet)
    for arr in (packet.acc_mps2, packet.gyr_rps, packet.mag_ut, packet.pressure_pa, packet.device_time_s):
        if arr is not None:
            assert np.isfinite(arr).all()
            assert len(arr) == packet.n_samples


@pytest.mark.parametrize("profile", sorted(PURE))
def test_pure_decoders_raise_only_decode_error(profile: str) -> None:
    rng = random.Random(f"{SEED}-{profile}")
    valid = [bytes.fromhex(v) for v in VALID[profile]]
    errors = packets = 0
    for payload in _mutations(rng, valid):
        for decode in PURE[profile]:
            try:
                packet = decode(payload)
            except DecodeError as exc:
                assert exc.profile == profile, exc
                errors += 1
            except Exception as exc:  # pragma: no cover - this is the failure being looked for
                pytest.fail(f"{profile}: {type(exc).__name__}: {exc} on {payload.hex(' ')} (seed {SEED})")
            else:
                _check_packet(packet)
                packets += 1
    assert errors > 0 and packets > 0  # both outcomes were exercised


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_stream_decoders_return_errors_as_values(profile: str) -> None:
    rng = random.Random(f"{SEED}-stream-{profile}")
    valid = [bytes.fromhex(v) for v in VALID[profile]]
    decoder: StreamDecoder = make_profile(profile).decoder()
    chars = [*make_profile(profile).notify_uuids, "00000000-0000-0000-0000-000000000000"]
    seen_error = False
    for payload in _mutations(rng, valid):
        try:
            results = decoder.feed(rng.choice(chars), payload)
            results += decoder.finish() if rng.random() < 0.05 else []
        except Exception as exc:  # pragma: no cover
            pytest.fail(
                f"{profile}: feed raised {type(exc).__name__}: {exc} on {payload.hex(' ')} (seed {SEED})"
            )
        for r in results:
            if isinstance(r, DecodeError):
                assert r.profile == profile
                seen_error = True
            else:
                _check_packet(r)
    assert seen_error
    # After all that the decoder still decodes a good packet.
    decoder.reset()
    good = [
        r for v in valid for r in decoder.feed(make_profile(profile).notify_uuids[-1], v) + decoder.finish()
    ]
    assert any(isinstance(r, Packet) for r in good)
