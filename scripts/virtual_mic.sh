#!/usr/bin/env bash
# A virtual microphone for tests and demos on machines without a sound card.
#
#   bash scripts/virtual_mic.sh start    # (default) idempotent
#   bash scripts/virtual_mic.sh status
#   bash scripts/virtual_mic.sh stop     # undoes what 'start' did
#
# 'start' makes sure a PulseAudio daemon runs (starting one for the current user if
# needed; works as root in a container), then creates
#   vsink  a null sink (plays into nothing), set as the default sink, and
#   vmic   a source that is vsink's monitor, set as the default source.
# Anything played into vsink is then heard on the default input, e.g.
#   paplay --device=vsink sounds/streams/stream1.wav &  hmmrec listen MODEL
# PortAudio (sounddevice) reaches PulseAudio through ALSA's "pulse"/"default" devices
# (Debian package libasound2-plugins).
#
# Needs: pulseaudio, pulseaudio-utils (pactl, paplay), libasound2-plugins.
# State (what 'start' created, so that 'stop' removes only that) is kept in
# ${HMMREC_VMIC_STATE:-${TMPDIR:-/tmp}/hmmrec-virtual-mic-$(id -u).state}.
set -euo pipefail

SINK=vsink
SOURCE=vmic
STATE="${HMMREC_VMIC_STATE:-${TMPDIR:-/tmp}/hmmrec-virtual-mic-$(id -u).state}"
LOG="${TMPDIR:-/tmp}/hmmrec-pulseaudio-$(id -u).log"

say() { echo "virtual_mic: $*"; }
die() { echo "virtual_mic: error: $*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found (Debian/Ubuntu: apt-get install $2)"
}

server_up() { pactl info >/dev/null 2>&1; }

remember() { echo "$1" >>"$STATE"; }

start() {
  need pulseaudio pulseaudio
  need pactl pulseaudio-utils
  if server_up; then
    say "PulseAudio already running ($(pactl info | awk -F': ' '/^Server String/ {print $2}'))"
  else
    local flags=(--daemonize=yes --exit-idle-time=-1 --disallow-exit --system=false
                 --log-target="file:$LOG")  # one log, the last start's (newfile: would add .1, .2, ... on every run)
    # As root PulseAudio warns ("not intended to be run as root") but runs in per-user mode,
    # with its socket in /tmp/pulse-*/ and ~/.config/pulse; no D-Bus or systemd needed.
    # Its stdio goes to /dev/null so that it never holds a caller's pipes open.
    pulseaudio "${flags[@]}" </dev/null >/dev/null 2>&1 \
      || pulseaudio "${flags[@]}" --disable-shm=yes </dev/null >/dev/null 2>&1 \
      || die "could not start the PulseAudio daemon (log: $LOG)"
    for _ in $(seq 50); do server_up && break; sleep 0.1; done
    server_up || die "PulseAudio started but does not answer 'pactl info'"
    remember daemon
    say "started PulseAudio daemon ($(pactl info | awk -F': ' '/^Server String/ {print $2}'); log $LOG)"
  fi
  if pactl list short sinks | awk '{print $2}' | grep -qx "$SINK"; then
    say "sink $SINK already exists"
  else
    m=$(pactl load-module module-null-sink sink_name="$SINK" sink_properties=device.description=hmmrec-virtual-speaker)
    remember "module $m"
    say "created sink $SINK (module-null-sink, module $m)"
  fi
  if pactl list short sources | awk '{print $2}' | grep -qx "$SOURCE"; then
    say "source $SOURCE already exists"
  else
    m=$(pactl load-module module-remap-source master="$SINK.monitor" source_name="$SOURCE" \
        source_properties=device.description=hmmrec-virtual-microphone)
    remember "module $m"
    say "created source $SOURCE = monitor of $SINK (module-remap-source, module $m)"
  fi
  pactl set-default-sink "$SINK"
  pactl set-default-source "$SOURCE"
  pactl set-source-mute "$SOURCE" 0 || true
  pactl set-source-volume "$SOURCE" 100% || true
  say "default sink: $SINK, default source: $SOURCE"
  say "play into it with: paplay --device=$SINK FILE.wav"
}

status() {
  if ! command -v pactl >/dev/null 2>&1 || ! server_up; then
    say "PulseAudio not running"
    return 1
  fi
  pactl info | grep -E '^(Server String|Default Sink|Default Source):' | sed 's/^/virtual_mic: /'
  pactl list short sinks | awk '{print "virtual_mic: sink   " $1 " " $2}'
  pactl list short sources | awk '{print "virtual_mic: source " $1 " " $2}'
}

stop() {
  if [ ! -f "$STATE" ]; then
    say "nothing to stop (no state file $STATE; 'start' did not run or found everything in place)"
    return 0
  fi
  # unload in reverse order: the remap source before the sink it listens to
  tac "$STATE" | while read -r kind arg; do
    case "$kind" in
      module)
        if pactl unload-module "$arg" 2>/dev/null; then say "unloaded module $arg"; fi ;;
      daemon)
        if pulseaudio --kill 2>/dev/null; then say "stopped PulseAudio daemon"; fi ;;
    esac
  done
  rm -f "$STATE"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  -h|--help|help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) die "unknown command '$1' (start, stop or status)" ;;
esac
