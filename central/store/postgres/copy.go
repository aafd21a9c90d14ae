package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"github.com/jackc/pgx/v5"
)

// copyBuf encodes rows in PostgreSQL's binary COPY format directly from the
// batches, without pgx's per-value []any boxing and encode planning, which
// cost more than the server's side of the COPY. Only the types of the
// readings and snapshots tables are needed: text, bigint, integer, boolean,
// timestamptz (all NOT NULL).
type copyBuf struct {
	b []byte
}

// copyHeader is the binary COPY signature, flags and header extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

func newCopyBuf(sizeHint int) *copyBuf {
	c := &copyBuf{b: make([]byte, 0, sizeHint)}
	c.b = append(c.b, copyHeader...)
	return c
}

func (c *copyBuf) row(fields int16) { c.b = binary.BigEndian.AppendUint16(c.b, uint16(fields)) }

func (c *copyBuf) text(s string) {
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(len(s)))
	c.b = append(c.b, s...)
}

func (c *copyBuf) int8(v int64) {
	c.b = binary.BigEndian.AppendUint32(c.b, 8)
	c.b = binary.BigEndian.AppendUint64(c.b, uint64(v))
}

func (c *copyBuf) int4(v int32) {
	c.b = binary.BigEndian.AppendUint32(c.b, 4)
	c.b = binary.BigEndian.AppendUint32(c.b, uint32(v))
}

func (c *copyBuf) bool(v bool) {
	c.b = binary.BigEndian.AppendUint32(c.b, 1)
	if v {
		c.b = append(c.b, 1)
	} else {
		c.b = append(c.b, 0)
	}
}

// microsecFromUnixEpochToY2K is PostgreSQL's epoch (2000-01-01 UTC) in Unix
// microseconds.
const microsecFromUnixEpochToY2K = 946684800 * 1000000

// timestamptz encodes t as pgx does: microseconds since 2000-01-01 UTC,
// sub-microsecond digits truncated.
func (c *copyBuf) timestamptz(t time.Time) {
	us := t.Unix()*1000000 + int64(t.Nanosecond())/1000
	c.int8(us - microsecFromUnixEpochToY2K)
}

// copyIn streams the encoded rows into table(cols) inside tx.
func (c *copyBuf) copyIn(ctx context.Context, tx pgx.Tx, table string, cols []string) error {
	c.b = binary.BigEndian.AppendUint16(c.b, 0xffff) // trailer
	var q bytes.Buffer
	q.WriteString("COPY ")
	q.WriteString(pgx.Identifier{table}.Sanitize())
	q.WriteString(" (")
	for i, col := range cols {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString(pgx.Identifier{col}.Sanitize())
	}
	q.WriteString(") FROM STDIN (FORMAT binary)")
	_, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(c.b), q.String())
	return err
}
