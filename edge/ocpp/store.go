package ocpp

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"time"
)

// Message is one transaction-related message waiting for the CSMS, in
// the order it was made. Its transaction is named by the point's local id;
// the CSMS's id replaces it when the message is sent.
type Message struct {
	Seq     uint64          `json:"seq"`
	Action  string          `json:"action"` // StartTransaction, MeterValues, StopTransaction
	LocalTx int             `json:"tx"`
	Payload json.RawMessage `json:"payload"` // the request, transactionId 0 until sent
	Made    time.Time       `json:"made"`
	Tries   int             `json:"tries,omitempty"` // CSMS answers with a CALLERROR so far
}

// Transaction is the point's running transaction.
type Transaction struct {
	LocalID  int       `json:"local"`
	IDTag    string    `json:"idTag"`
	Start    time.Time `json:"start"`
	MeterWh  int64     `json:"meterStartWh"`
	BeginSD  string    `json:"beginOCMF,omitempty"` // the signed begin snapshot
	Stopping bool      `json:"stopping,omitempty"`
}

// State is what a point keeps on disk.
type State struct {
	NextSeq     uint64            `json:"nextSeq"`
	NextLocal   int               `json:"nextLocal"`
	Queue       []Message         `json:"queue"`
	TxIDs       map[int]int       `json:"txIds"` // local id → the CSMS's transaction id
	Tx          *Transaction      `json:"tx,omitempty"`
	Profiles    []Profile         `json:"profiles"`
	Config      map[string]string `json:"config"` // keys the CSMS changed
	Inoperative bool              `json:"inoperative,omitempty"`
}

// MaxQueue bounds the queue: past it, the oldest periodic MeterValues go
// (never a Start or Stop, never a signed value).
const MaxQueue = 20000

// stateFile keeps a State in one file, written whole: a temporary file,
// fsynced, renamed over the old one, the directory fsynced. The file is
// "<crc32c hex> <json>\n", so a torn or damaged file is refused, never
// half read.
type stateFile struct{ path string }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrCorrupt: the state file fails its checksum.
var ErrCorrupt = errors.New("ocpp state file corrupt")

func (f stateFile) load() (State, error) {
	st := State{NextSeq: 1, NextLocal: 1, TxIDs: map[int]int{}, Config: map[string]string{}}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read %s: %w", f.path, err)
	}
	if len(b) < 10 || b[8] != ' ' {
		return st, fmt.Errorf("%s: %w: no checksum", f.path, ErrCorrupt)
	}
	var sum uint32
	if _, err := fmt.Sscanf(string(b[:8]), "%08x", &sum); err != nil {
		return st, fmt.Errorf("%s: %w: checksum: %v", f.path, ErrCorrupt, err)
	}
	body := b[9:]
	if len(body) > 0 && body[len(body)-1] == '\n' {
		body = body[:len(body)-1]
	}
	if crc32.Checksum(body, castagnoli) != sum {
		return st, fmt.Errorf("%s: %w: checksum mismatch", f.path, ErrCorrupt)
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("%s: %w: %v", f.path, ErrCorrupt, err)
	}
	if st.TxIDs == nil {
		st.TxIDs = map[int]int{}
	}
	if st.Config == nil {
		st.Config = map[string]string{}
	}
	return st, nil
}

func (f stateFile) save(st *State) error {
	body, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode ocpp state: %w", err)
	}
	data := fmt.Appendf(nil, "%08x %s\n", crc32.Checksum(body, castagnoli), body)
	dir := filepath.Dir(f.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ocpp state dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".state-*")
	if err != nil {
		return fmt.Errorf("ocpp state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("rename to %s: %w", f.path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// enqueue appends a message; past MaxQueue the oldest plain MeterValues
// are dropped, and their number is returned.
func (st *State) enqueue(action string, localTx int, payload any, now time.Time) (dropped int, err error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("encode %s: %w", action, err)
	}
	st.Queue = append(st.Queue, Message{Seq: st.NextSeq, Action: action, LocalTx: localTx, Payload: b, Made: now.UTC()})
	st.NextSeq++
	for len(st.Queue) > MaxQueue {
		i := 0
		for i < len(st.Queue) && (st.Queue[i].Action != actMeterValues || signed(st.Queue[i].Payload)) {
			i++
		}
		if i == len(st.Queue) {
			break
		}
		st.Queue = append(st.Queue[:i], st.Queue[i+1:]...)
		dropped++
	}
	return dropped, nil
}

// signed reports whether a MeterValues payload carries a signed value.
func signed(payload []byte) bool {
	var mv struct {
		MeterValue []struct {
			SampledValue []struct {
				Format string `json:"format"`
			} `json:"sampledValue"`
		} `json:"meterValue"`
	}
	if json.Unmarshal(payload, &mv) != nil {
		return true
	}
	for _, m := range mv.MeterValue {
		for _, s := range m.SampledValue {
			if s.Format == "SignedData" {
				return true
			}
		}
	}
	return false
}
