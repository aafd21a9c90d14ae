#!/bin/sh
# Turns a git describe version into a Debian package version, which must
# start with a digit: v1.2.3 -> 1.2.3, 1.2.3-4-gabc -> 1.2.3+4.gabc,
# abc1234[-dirty] -> 0.0.0~gitabc1234[.dirty].
v=${1:-dev}
case $v in
  v[0-9]*) v=${v#v} ;;
  [0-9]*.*) ;;
  *) v="0.0.0~git$v" ;;
esac
printf '%s\n' "$v" | sed 's/-dirty$/.dirty/; s/-/+/; s/-/./g'
