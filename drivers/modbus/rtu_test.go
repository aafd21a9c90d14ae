package modbus

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/parkgrid/parkgrid/internal/svctest"
)

// crc16 is the Modbus RTU CRC (poly 0xA001, init 0xFFFF), low byte first.
func crc16(b []byte) uint16 {
	crc := uint16(0xFFFF)
	for _, c := range b {
		crc ^= uint16(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xA001
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

func withCRC(b []byte) []byte {
	c := crc16(b)
	return append(b, byte(c), byte(c>>8))
}

// ptyPair links two pseudo-terminals with socat and returns their paths.
func ptyPair(t *testing.T) (string, string) {
	t.Helper()
	socat := svctest.Command(t, "socat", "apt-get install socat")
	cmd := exec.Command(socat, "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	re := regexp.MustCompile(`PTY is (\S+)`)
	var ptys []string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			ptys = append(ptys, m[1])
		}
		if len(ptys) == 2 && regexp.MustCompile(`starting data transfer loop`).MatchString(sc.Text()) {
			break
		}
	}
	if len(ptys) != 2 {
		t.Fatalf("socat gave ptys %v", ptys)
	}
	go func() { _, _ = io.Copy(io.Discard, stderr) }()
	return ptys[0], ptys[1]
}

// rtuSlave answers FC04 reads and FC06 writes on the serial device for
// unit 1 (registers), unit 3 (exception 2); unit 2 never answers.
func rtuSlave(t *testing.T, dev string) {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { f.Close(); wg.Wait() })
	regs := map[uint16]uint16{0: 0x1234, 1: 0x5678}
	wg.Go(func() {
		for {
			req := make([]byte, 8) // FC04 and FC06 requests are 8 bytes
			if _, err := io.ReadFull(f, req); err != nil {
				return
			}
			if crc16(req[:6]) != binary.LittleEndian.Uint16(req[6:]) {
				continue
			}
			unit, fc := req[0], req[1]
			a, q := binary.BigEndian.Uint16(req[2:]), binary.BigEndian.Uint16(req[4:])
			var resp []byte
			switch {
			case unit == 2:
				continue
			case unit == 3:
				resp = []byte{unit, fc | 0x80, 2}
			case fc == 4:
				resp = []byte{unit, fc, byte(2 * q)}
				for i := range q {
					resp = binary.BigEndian.AppendUint16(resp, regs[a+i])
				}
			case fc == 6:
				regs[a] = q
				resp = append([]byte(nil), req[:6]...)
			default:
				resp = []byte{unit, fc | 0x80, 1}
			}
			if _, err := f.Write(withCRC(resp)); err != nil {
				return
			}
		}
	})
}

func TestRTUOverPty(t *testing.T) {
	master, slave := ptyPair(t)
	rtuSlave(t, slave)
	b, err := NewRTU(master, 19200, "8N1", Options{Name: "rs485-test", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	run(t, b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	got, err := b.ReadInputRegisters(ctx, 1, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]byte{0x12, 0x34, 0x56, 0x78}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A unit that never answers costs one timeout, not the line.
	_, err = b.ReadInputRegisters(ctx, 2, 0, 2)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("silent unit: err = %v, want ErrTimeout", err)
	}
	_, err = b.ReadInputRegisters(ctx, 3, 0, 2)
	var ee *ExceptionError
	if !errors.As(err, &ee) || ee.Code != 2 {
		t.Fatalf("unit 3: err = %v, want exception 2", err)
	}
	if err := b.WriteSingleRegister(ctx, 1, 1, 0xBEEF); err != nil {
		t.Fatal(err)
	}
	got, err = b.ReadInputRegisters(ctx, 1, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]byte{0xBE, 0xEF}, got); diff != "" {
		t.Errorf("after write (-want +got):\n%s", diff)
	}
	if s := b.Stats(); s.Timeouts != 1 || s.Exceptions != 1 || s.Requests != 5 {
		t.Errorf("stats = %+v", s)
	}
}

func TestRTUMissingDevice(t *testing.T) {
	b, err := NewRTU("/dev/parkgrid-no-such-tty", 9600, "8E1", Options{})
	if err != nil {
		t.Fatal(err)
	}
	run(t, b)
	_, err = b.ReadInputRegisters(ctxT(t), 1, 0, 1)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if !regexp.MustCompile(`modbus "rtu /dev/parkgrid-no-such-tty" unit 1: read input registers 0x0000\+1: bus unavailable: dial: `).MatchString(err.Error()) {
		t.Errorf("err = %q", err)
	}
}
