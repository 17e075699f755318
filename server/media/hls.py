"""The HLS a live stream is played from: one playlist, or a quality ladder.

Browser and RTMP go-lives alike. With the ladder (settings.ingest.ladder), one ffmpeg writes
three renditions and a master playlist that lists them, all in the stream's own folder (the
one public.recording_file and nginx's media_access check: no subfolders):

    <directory>/master.m3u8    what players open (written by Arena, see `ready`)
    <directory>/source.m3u8    the input's own picture, copied (H.264) or encoded once; source-NNNNNN.ts
    <directory>/360p.m3u8      H.264 about 600 kbit/s, short side 360, keyframe every segment; 360p-NNNNNN.ts
    <directory>/audio.m3u8     AAC 64 kbit/s only, for the poorest connections; audio-NNNNNN.ts

Without the ladder: `<directory>/index.m3u8` and its segments.

ffmpeg never writes #EXT-X-ENDLIST (omit_endlist): an RTMP encoder that drops may come back
within the reconnect grace, and a new ffmpeg then continues the same playlists
(`append=True`: same segment numbers onwards, a discontinuity between). Arena closes the
playlists itself when the stream is really over (`close_playlists`).

ffmpeg's own master playlist is not what players get: for a copied video stream ffmpeg knows
no bitrate (it would declare the source at its audio's 100 kbit/s, below the 360p rendition,
which misleads players' bandwidth switching), so it is told a nominal one. ffmpeg writes its
master under FFMPEG_MASTER;
once the source has its first segment, `ready` writes MASTER from it with the source's
BANDWIDTH measured from its segments (the peak segment bitrate, as RFC 8216 defines it).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MASTER = "master.m3u8"
SINGLE = "index.m3u8"
FFMPEG_MASTER = "ffmpeg-master.m3u8"  # ffmpeg's own, rewritten into MASTER by `ready`
RENDITIONS = ("source", "360p", "audio")  # "<name>.m3u8", in the master playlist's order
ENDLIST = "#EXT-X-ENDLIST"

LADDER_HEIGHT = 360
LADDER_VIDEO_KBPS = 536  # + 64 kbit/s of audio: about 600 kbit/s in all
AUDIO_KBPS = 64
SOURCE_AUDIO_KBPS = 96
SOURCE_NOMINAL_KBPS = 2500  # what a copied source is declared at until its segments are measured
# Short segments at a reconnect (ffmpeg's last partial one) say little about the bitrate.
_MIN_MEASURED_SECONDS = 0.5
_EXTINF = re.compile(r"#EXTINF:([0-9.]+)")
_BANDWIDTH = re.compile(r"BANDWIDTH=\d+")


def playlist_name(ladder: bool) -> str:
    """The playlist viewers open (LiveStream.playlist_name)."""
    return MASTER if ladder else SINGLE


def output_args(directory: Path, *, copy_video: bool, ladder: bool, segment_seconds: int, preset: str,
                append: bool = False, audio: bool = True, audio_input: int = 0) -> list[str]:
    """ffmpeg's output arguments for input 0 (its first video and, when `audio`, first audio).

    copy_video: the input is H.264 and is copied as it is (the source rendition); otherwise
    it is encoded once to H.264. preset: x264's for the 360p rendition (ingest.ladder_preset).
    append: continue the playlists already in `directory` (a reconnect of the same stream).
    audio=False: an input without sound (then no audio-only rendition).
    audio_input: the input the sound comes from; another than 0 is a stand-in (RTMP: silence
    for an encoder that sends none), and the output ends with input 0 (-shortest)."""
    sound = f"{int(audio_input)}:a:0"
    shortest = ["-shortest"] if audio_input else []
    keyframes = f"expr:gte(t,n_forced*{segment_seconds})"
    flags = "independent_segments+program_date_time+temp_file+delete_segments+omit_endlist"
    if append:
        flags += "+append_list"  # ffmpeg adds #EXT-X-DISCONTINUITY and numbers on
    hls = ["-f", "hls", "-hls_time", str(segment_seconds), "-hls_list_size", "10",
           # Old segments go once no player can still need them; the recording is the source file.
           "-hls_delete_threshold", "10", "-hls_flags", flags]
    # A talk is speech: mono AAC costs half the CPU of stereo (the recording keeps the input's).
    aac = ["-c:a", "aac", "-ac", "1", "-ar", "48000"]
    if copy_video:
        # mp4toannexb puts the SPS in the stream's header, so ffmpeg can name the profile in CODECS.
        # A copy has no bitrate ffmpeg knows: without one it leaves a silent source out of its
        # master playlist. The nominal one here is replaced by the measured one (`ready`).
        source_video = ["-c:v:0", "copy", "-bsf:v:0", "h264_mp4toannexb", "-b:v:0", f"{SOURCE_NOMINAL_KBPS}k"]
    else:
        # VP8/VP9 cannot go into MPEG-TS for every player: H.264, one keyframe per segment;
        # ultrafast: a live transcode must keep up on a small server (about half of veryfast's CPU).
        # passthrough: each frame once, at its own time. A browser's VP8 has millisecond
        # timestamps and no frame rate, and HLS's default (constant rate) would duplicate frames
        # by the thousand, leaving ffmpeg ever further behind (and End waiting for it).
        source_video = ["-fps_mode", "passthrough",
                        "-c:v:0", "libx264", "-preset:v:0", "ultrafast", "-tune:v:0", "zerolatency",
                        "-pix_fmt:v:0", "yuv420p", "-profile:v:0", "main", "-b:v:0", "2500k",
                        "-maxrate:v:0", "3000k", "-bufsize:v:0", "3000k", "-force_key_frames:v:0", keyframes]
    if not ladder:
        return ["-map", "0:v:0", "-map", f"{sound}?", *source_video, *aac, "-b:a", f"{SOURCE_AUDIO_KBPS}k", *hls,
                *shortest,
                "-hls_segment_filename", str(directory / "segment-%06d.ts"), str(directory / SINGLE)]
    # The short side becomes 360 (a phone's portrait picture too), never larger than the input,
    # even numbers for yuv420p.
    scale = (f"scale=w='if(gte(iw,ih),-2,trunc(min({LADDER_HEIGHT},iw)/2)*2)'"
             f":h='if(gte(iw,ih),trunc(min({LADDER_HEIGHT},ih)/2)*2,-2)'")
    small_video = ["-c:v:1", "libx264", "-preset:v:1", preset, "-tune:v:1", "zerolatency",
                   "-filter:v:1", scale, "-pix_fmt:v:1", "yuv420p", "-profile:v:1", "main",
                   "-b:v:1", f"{LADDER_VIDEO_KBPS}k", "-maxrate:v:1", f"{LADDER_VIDEO_KBPS}k",
                   "-bufsize:v:1", f"{LADDER_VIDEO_KBPS * 2}k",
                   # A keyframe at every segment's start: players switch renditions at any segment.
                   "-force_key_frames:v:1", keyframes]
    if audio:
        maps = ["-map", "0:v:0", "-map", sound, "-map", "0:v:0", "-map", sound, "-map", sound]
        audio_args = [*aac, "-b:a:0", f"{SOURCE_AUDIO_KBPS}k", "-b:a:1", f"{AUDIO_KBPS}k",
                      "-b:a:2", f"{AUDIO_KBPS}k"]
        variants = "v:0,a:0,name:source v:1,a:1,name:360p a:2,name:audio"
    else:
        maps = ["-map", "0:v:0", "-map", "0:v:0"]
        audio_args = []
        variants = "v:0,name:source v:1,name:360p"
    return [*maps, *source_video, *small_video, *audio_args, *hls, *shortest,
            "-master_pl_name", FFMPEG_MASTER, "-var_stream_map", variants,
            "-hls_segment_filename", str(directory / "%v-%06d.ts"), str(directory / "%v.m3u8")]


def source_playlist(directory: Path, ladder: bool) -> Path:
    """The source rendition's media playlist (the only one without the ladder)."""
    return directory / "source.m3u8" if ladder else directory / SINGLE


def media_playlists(directory: Path) -> list[Path]:
    """Every media playlist of a stream's HLS folder, with or without the ladder."""
    found = [directory / SINGLE] + [directory / f"{name}.m3u8" for name in RENDITIONS]
    return [path for path in found if path.exists()]


def close_playlists(directory: Path) -> None:
    """The stream is over: every media playlist gets its end mark, so players treat it as a
    finished video instead of waiting for more (ffmpeg never writes it, see omit_endlist)."""
    for playlist in media_playlists(directory):
        try:
            text = playlist.read_text()
        except OSError:
            continue
        if ENDLIST not in text:
            _write(playlist, text.rstrip("\n") + "\n" + ENDLIST + "\n")


def ready(directory: Path, ladder: bool) -> bool:
    """The first segment is listed (in the source rendition), and with the ladder the master
    playlist players open is written. Cheap; call it each second while ffmpeg runs: each
    ffmpeg (an RTMP stream's every part) writes its own master once, which is then rewritten
    into MASTER and removed, so a reconnect with another picture size or without sound
    updates what the master says (RESOLUTION, CODECS) for players that open it from then on."""
    source = source_playlist(directory, ladder)
    try:
        text = source.read_text()
    except OSError:
        return False
    if "#EXTINF" not in text:
        return False
    if not ladder:
        return True
    try:
        ffmpeg_master = (directory / FFMPEG_MASTER).read_text()
    except OSError:
        # ffmpeg writes it once every rendition has its first playlist (or it was taken already)
        return (directory / MASTER).exists()
    if "#EXT-X-STREAM-INF" not in ffmpeg_master or not ffmpeg_master.endswith("\n"):
        return (directory / MASTER).exists()  # caught half-written: next time
    _write(directory / MASTER, _master_with_measured_source(ffmpeg_master, source, text))
    try:
        (directory / FFMPEG_MASTER).unlink()  # taken: a new one is the next part's
    except OSError:
        pass
    return True


def _master_with_measured_source(master: str, source: Path, source_text: str) -> str:
    bandwidth = peak_bandwidth(source.parent, source_text)
    lines = master.splitlines()
    for index, line in enumerate(lines):
        if line.strip() == "source.m3u8" and index > 0 and lines[index - 1].startswith("#EXT-X-STREAM-INF"):
            if bandwidth:
                lines[index - 1] = _BANDWIDTH.sub(f"BANDWIDTH={bandwidth}", lines[index - 1], count=1)
    return "\n".join(lines) + "\n"


def peak_bandwidth(folder: Path, playlist_text: str) -> int | None:
    """The highest bitrate of the listed segments, in bit/s (what BANDWIDTH declares)."""
    peak = 0.0
    duration = None
    for line in playlist_text.splitlines():
        match = _EXTINF.match(line)
        if match:
            duration = float(match.group(1))
        elif line and not line.startswith("#") and duration is not None:
            if duration >= _MIN_MEASURED_SECONDS:
                try:
                    peak = max(peak, (folder / line.strip()).stat().st_size * 8 / duration)
                except OSError:
                    pass  # deleted meanwhile
            duration = None
    return int(peak) or None


def _write(path: Path, text: str) -> None:
    """Whole or not at all: players may read the file at any moment."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
