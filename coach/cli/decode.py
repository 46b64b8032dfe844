"""``coach decode PROFILE HEX...``: decode notification payloads of a device profile into JSON Lines.

Each HEX is one notification payload (spaces allowed inside quotes), decoded in order by the profile's
stream decoder, so a packet split over two notifications (WitMotion, Movesense) or a compressed frame that
needs the previous frame's timestamp (Polar) decodes as it would live. One line per sample: ``t`` (device
time, s) where the packet carries time, ``ax ay az`` (m/s²), ``gx gy gz`` (rad/s), ``mx my mz`` (µT) where
present; packets without samples (control answers, battery, fusion outputs) print as
``{"packet": KIND, ...}``. Settings a packet does not carry come from the options below, whose defaults
are the profile's own start-stream settings. An undecodable packet prints an error line on stderr and the
exit status is 1 (the other packets are still decoded).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "decode BLE notification payloads (hex) of a device profile into JSON Lines"

PROFILE_NAMES = ("metamotion", "polar-verity", "witmotion", "movesense", "thingy52", "coach-imu")
THINGY_CHARS = ("raw", "config", "quaternion", "euler", "connection")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", choices=PROFILE_NAMES, help="device profile")
    parser.add_argument(
        "hex", nargs="+", metavar="HEX", help="one notification payload in hex (quote it if it has spaces)"
    )
    g = parser.add_argument_group(
        "settings the packets do not carry (defaults: the profile's start-stream settings)"
    )
    g.add_argument("--rate-hz", type=float, help="sample rate (polar-verity: first frame spacing; movesense)")
    g.add_argument(
        "--acc-range-g", type=float, help="accelerometer range (metamotion; polar-verity 0x80 frames)"
    )
    g.add_argument("--gyr-range-dps", type=float, help="gyroscope range (metamotion)")
    g.add_argument(
        "--chip", choices=("bmi160", "bmi270"), help="metamotion: BMI160 (MetaMotion R/RL) or BMI270 (S)"
    )
    g.add_argument(
        "--accounter", choices=("count", "time"), help="metamotion: an accounter is in front of acc data"
    )
    g.add_argument("--acc-factor", type=float, help="polar-verity: ACC scale FACTOR from the START response")
    g.add_argument("--gyr-factor", type=float, help="polar-verity: GYRO scale FACTOR from the START response")
    g.add_argument("--mag-factor", type=float, help="polar-verity: MAG scale FACTOR from the START response")
    g.add_argument(
        "--resource", choices=("IMU6", "IMU9", "Acc", "Gyro", "Magn"), help="movesense: subscribed resource"
    )
    g.add_argument("--mtu", type=int, help="movesense: ATT MTU (a DATA of MTU-3 bytes waits for its PART2)")
    g.add_argument(
        "--char",
        choices=THINGY_CHARS,
        default="raw",
        help="thingy52: which characteristic the values are from",
    )


def _decoder(args: argparse.Namespace) -> tuple[Any, str]:
    """The stream decoder for the profile and the characteristic UUID the payloads are fed as."""
    from drivers import coach_imu, metamotion, movesense, polar_verity, thingy52, witmotion

    p = args.profile
    if p == "metamotion":
        d = metamotion.MetamotionProfile()  # its default start-stream settings
        settings = metamotion.DecodeSettings(
            chip=args.chip or "bmi270",
            acc_range_g=args.acc_range_g or d.acc_range_g,
            gyr_range_dps=args.gyr_range_dps or d.gyr_range_dps,
            accounter=args.accounter,
        )
        return metamotion.MetamotionDecoder(settings), metamotion.NOTIFY_UUID
    if p == "polar-verity":
        dp = polar_verity.PolarVerityProfile()
        factors = {
            t: f
            for t, f in (
                (polar_verity.ACC, args.acc_factor),
                (polar_verity.GYRO, args.gyr_factor),
                (polar_verity.MAG, args.mag_factor),
            )
            if f is not None
        }
        settings_p = polar_verity.DecodeSettings(
            rate_hz=int(args.rate_hz or dp.rate_hz),
            acc_range_g=int(args.acc_range_g or dp.acc_range_g),
            factors=factors,
        )
        return polar_verity.PolarDecoder(settings_p), ""  # control vs data told apart by the first byte
    if p == "witmotion":
        return witmotion.WitmotionDecoder(), witmotion.NOTIFY_UUID
    if p == "movesense":
        dm = movesense.MovesenseProfile()
        settings_m = movesense.DecodeSettings(
            resource=args.resource or dm.resource,
            rate_hz=int(args.rate_hz or dm.rate_hz),
            mtu=args.mtu or dm.mtu,
        )
        return movesense.MovesenseDecoder(settings_m), movesense.DATA_UUID
    if p == "thingy52":
        chars = {
            "raw": thingy52.RAW_UUID,
            "config": thingy52.MOTION_CONFIG_UUID,
            "quaternion": thingy52.QUATERNION_UUID,
            "euler": thingy52.EULER_UUID,
            "connection": thingy52.CONNECTION_PARAMS_UUID,
        }
        return thingy52.ThingyDecoder(), chars[args.char]
    return coach_imu.CoachImuDecoder(), ""  # data vs acknowledgement told apart by the first byte


def packet_lines(packet: Any) -> list[dict[str, Any]]:
    """JSON objects for one decoded packet: a line per sample, or one ``packet`` line."""
    n = packet.n_samples
    if n == 0:
        info = dict(packet.info)
        kind = info.pop("kind", "info")
        return [{"packet": kind, **info}]
    lines: list[dict[str, Any]] = []
    for i in range(n):
        row: dict[str, Any] = {}
        if packet.device_time_s is not None:
            row["t"] = float(packet.device_time_s[i])
        for names, arr in (
            ("ax ay az", packet.acc_mps2),
            ("gx gy gz", packet.gyr_rps),
            ("mx my mz", packet.mag_ut),
        ):
            if arr is not None:
                row.update(zip(names.split(), (float(v) for v in arr[i]), strict=True))
        if packet.pressure_pa is not None:
            row["pressure"] = float(packet.pressure_pa[i])
        lines.append(row)
    return lines


def run(args: argparse.Namespace) -> int:
    from coach.errors import DecodeError
    from coach.events import to_json
    from drivers.base import parse_hex

    try:
        decoder, char = _decoder(args)
    except ValueError as exc:
        print(f"coach decode: {args.profile}: {exc}", file=sys.stderr)
        return 2
    status = 0
    out = sys.stdout

    def emit(results: list[Any], where: str) -> None:
        nonlocal status
        for r in results:
            if isinstance(r, DecodeError):
                print(f"coach decode: {where}: {r}", file=sys.stderr)
                status = 1
            else:
                for line in packet_lines(r):
                    out.write(to_json(line) + "\n")

    for i, text in enumerate(args.hex, start=1):
        where = f"packet {i}"
        try:
            payload = parse_hex(text)
        except ValueError as exc:
            print(f"coach decode: {where}: not hex: {exc}", file=sys.stderr)
            status = 1
            continue
        emit(decoder.feed(char, payload), where)
    emit(decoder.finish(), "end of input")
    out.flush()
    return status
