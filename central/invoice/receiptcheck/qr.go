package receiptcheck

import (
	"errors"
	"fmt"
	"math"
)

// ErrNoQR: the image holds no QR code this decoder can read.
var ErrNoQR = errors.New("no readable QR code")

// blockSpec is the error correction structure of one version and level:
// EC codewords per block, then n1 blocks of d1 data codewords and n2
// blocks of d2.
type blockSpec struct{ ec, n1, d1, n2, d2 int }

// alignment lists the alignment pattern centres per version
// (ISO/IEC 18004 annex E).
var alignment = [41][]int{
	2: {6, 18}, 3: {6, 22}, 4: {6, 26}, 5: {6, 30}, 6: {6, 34},
	7: {6, 22, 38}, 8: {6, 24, 42}, 9: {6, 26, 46}, 10: {6, 28, 50}, 11: {6, 30, 54}, 12: {6, 32, 58}, 13: {6, 34, 62},
	14: {6, 26, 46, 66}, 15: {6, 26, 48, 70}, 16: {6, 26, 50, 74}, 17: {6, 30, 54, 78}, 18: {6, 30, 56, 82}, 19: {6, 30, 58, 86}, 20: {6, 34, 62, 90},
	21: {6, 28, 50, 72, 94}, 22: {6, 26, 50, 74, 98}, 23: {6, 30, 54, 78, 102}, 24: {6, 28, 54, 80, 106}, 25: {6, 32, 58, 84, 110}, 26: {6, 30, 58, 86, 114}, 27: {6, 34, 62, 90, 118},
	28: {6, 26, 50, 74, 98, 122}, 29: {6, 30, 54, 78, 102, 126}, 30: {6, 26, 52, 78, 104, 130}, 31: {6, 30, 56, 82, 108, 134}, 32: {6, 34, 60, 86, 112, 138}, 33: {6, 30, 58, 86, 114, 142}, 34: {6, 34, 62, 90, 118, 146},
	35: {6, 30, 54, 78, 102, 126, 150}, 36: {6, 24, 50, 76, 102, 128, 154}, 37: {6, 28, 54, 80, 106, 132, 158}, 38: {6, 32, 58, 84, 110, 136, 162}, 39: {6, 26, 54, 82, 110, 138, 166}, 40: {6, 30, 58, 86, 114, 142, 170},
}

// Gray is an 8-bit grey image, row by row; 0 is black.
type Gray struct {
	W, H int
	Pix  []uint8
}

// grid is a QR symbol read into modules: dark[y][x].
type grid struct {
	dim  int
	dark [][]bool
}

// sample reads the module grid of a clean, upright QR code: a code
// rendered straight into an image, as receipts carry it (no perspective,
// no rotation, a light quiet zone). Camera pictures need a real scanner.
func sample(img Gray) (grid, error) {
	if img.W <= 0 || img.H <= 0 || len(img.Pix) != img.W*img.H {
		return grid{}, fmt.Errorf("%w: image %dx%d with %d pixels", ErrNoQR, img.W, img.H, len(img.Pix))
	}
	dark := func(x, y int) bool { return img.Pix[y*img.W+x] < 128 }
	minX, minY, maxX, maxY := img.W, img.H, -1, -1
	for y := range img.H {
		for x := range img.W {
			if dark(x, y) {
				minX, minY, maxX, maxY = min(minX, x), min(minY, y), max(maxX, x), max(maxY, y)
			}
		}
	}
	if maxX < 0 {
		return grid{}, fmt.Errorf("%w: blank image", ErrNoQR)
	}
	size := maxX - minX + 1
	if maxY-minY+1 != size {
		return grid{}, fmt.Errorf("%w: dark area %dx%d is not square", ErrNoQR, size, maxY-minY+1)
	}
	run := 0 // the top-left finder's top edge: 7 modules dark
	for x := minX; x <= maxX && dark(x, minY); x++ {
		run++
	}
	module := float64(run) / 7
	dim := int(math.Round(float64(size) / module))
	if module < 1 || dim < 21 || dim > 177 || (dim-17)%4 != 0 {
		return grid{}, fmt.Errorf("%w: %d modules across", ErrNoQR, dim)
	}
	step := float64(size) / float64(dim)
	g := grid{dim: dim, dark: make([][]bool, dim)}
	for y := range dim {
		g.dark[y] = make([]bool, dim)
		for x := range dim {
			px := minX + int((float64(x)+0.5)*step)
			py := minY + int((float64(y)+0.5)*step)
			g.dark[y][x] = dark(px, py)
		}
	}
	return g, nil
}

// formatCode is the 15-bit format information of an EC level (the
// standard's bits: L=01, M=00, Q=11, H=10) and a mask.
func formatCode(levelBits, mask int) int {
	data := levelBits<<3 | mask
	v := data << 10
	for i := 14; i >= 10; i-- {
		if v&(1<<i) != 0 {
			v ^= 0x537 << (i - 10)
		}
	}
	return (data<<10 | v) ^ 0x5412
}

// readFormat finds the EC level (index into ecBlocks: L, M, Q, H) and mask
// from the format information next to the top-left finder, or its copy.
func (g grid) readFormat() (level, mask int, err error) {
	d := g.dim
	read := func(pos [][2]int) int {
		v := 0
		for _, p := range pos {
			v <<= 1
			if g.dark[p[1]][p[0]] {
				v |= 1
			}
		}
		return v
	}
	// Positions as (x, y), most significant bit first.
	first := [][2]int{{8, 0}, {8, 1}, {8, 2}, {8, 3}, {8, 4}, {8, 5}, {8, 7}, {8, 8}, {7, 8}, {5, 8}, {4, 8}, {3, 8}, {2, 8}, {1, 8}, {0, 8}}
	second := [][2]int{{d - 1, 8}, {d - 2, 8}, {d - 3, 8}, {d - 4, 8}, {d - 5, 8}, {d - 6, 8}, {d - 7, 8}, {d - 8, 8},
		{8, d - 7}, {8, d - 6}, {8, d - 5}, {8, d - 4}, {8, d - 3}, {8, d - 2}, {8, d - 1}}
	levelOf := [4]int{1, 0, 3, 2} // format bits 00 M, 01 L, 10 H, 11 Q → index L, M, Q, H
	best, bestDist := -1, 16
	for _, got := range []int{read(first), read(second), reverse15(read(first)), reverse15(read(second))} {
		for bits := range 4 {
			for m := range 8 {
				dist := popcount(got ^ formatCode(bits, m))
				if dist < bestDist {
					best, bestDist = bits<<3|m, dist
				}
			}
		}
	}
	if bestDist > 3 {
		return 0, 0, fmt.Errorf("%w: format information unreadable", ErrNoQR)
	}
	return levelOf[best>>3], best & 7, nil
}

func reverse15(v int) int {
	r := 0
	for range 15 {
		r = r<<1 | v&1
		v >>= 1
	}
	return r
}

func popcount(v int) int {
	n := 0
	for ; v != 0; v &= v - 1 {
		n++
	}
	return n
}

// function marks the modules that carry no data.
func function(version int) [][]bool {
	d := 17 + 4*version
	f := make([][]bool, d)
	for i := range f {
		f[i] = make([]bool, d)
	}
	box := func(x0, y0, x1, y1 int) {
		for y := max(y0, 0); y <= min(y1, d-1); y++ {
			for x := max(x0, 0); x <= min(x1, d-1); x++ {
				f[y][x] = true
			}
		}
	}
	pos := alignment[version]
	for _, y := range pos {
		for _, x := range pos {
			if (x == 6 && y == 6) || (x == 6 && y == d-7) || (x == d-7 && y == 6) {
				continue // the finders' corners
			}
			box(x-2, y-2, x+2, y+2)
		}
	}
	box(0, 0, 8, 8)     // top-left finder, separator, format
	box(d-8, 0, d-1, 8) // top-right finder, separator, format
	box(0, d-8, 8, d-1) // bottom-left finder, separator, format, dark module
	box(6, 0, 6, d-1)   // timing
	box(0, 6, d-1, 6)
	if version >= 7 {
		box(d-11, 0, d-9, 5)
		box(0, d-11, 5, d-9)
	}
	return f
}

func masked(mask, x, y int) bool {
	switch mask {
	case 0:
		return (y+x)%2 == 0
	case 1:
		return y%2 == 0
	case 2:
		return x%3 == 0
	case 3:
		return (y+x)%3 == 0
	case 4:
		return (y/2+x/3)%2 == 0
	case 5:
		return (y*x)%2+(y*x)%3 == 0
	case 6:
		return ((y*x)%2+(y*x)%3)%2 == 0
	default:
		return ((y+x)%2+(y*x)%3)%2 == 0
	}
}

// decodeQR reads the text of the QR code in img. It corrects nothing: a
// symbol with a damaged block is refused (the check would otherwise rest
// on guessed bytes).
func decodeQR(img Gray) (string, error) {
	g, err := sample(img)
	if err != nil {
		return "", err
	}
	version := (g.dim - 17) / 4
	level, mask, err := g.readFormat()
	if err != nil {
		return "", err
	}
	fn := function(version)
	// Codewords in placement order: column pairs from the right, zigzag.
	var bits []bool
	up := true
	for x := g.dim - 1; x > 0; x -= 2 {
		if x == 6 {
			x--
		}
		for i := range g.dim {
			y := i
			if up {
				y = g.dim - 1 - i
			}
			for _, xx := range []int{x, x - 1} {
				if !fn[y][xx] {
					bits = append(bits, g.dark[y][xx] != masked(mask, xx, y))
				}
			}
		}
		up = !up
	}
	spec := ecBlocks[version-1][level]
	nBlocks := spec.n1 + spec.n2
	total := spec.n1*(spec.d1+spec.ec) + spec.n2*(spec.d2+spec.ec)
	if len(bits) < total*8 {
		return "", fmt.Errorf("%w: %d data modules for %d codewords", ErrNoQR, len(bits), total)
	}
	words := make([]byte, total)
	for i := range words {
		for b := range 8 {
			if bits[i*8+b] {
				words[i] |= 1 << (7 - b)
			}
		}
	}
	// De-interleave: data codewords block by block, then EC codewords.
	blocks := make([][]byte, nBlocks)
	dataLen := func(b int) int {
		if b < spec.n1 {
			return spec.d1
		}
		return spec.d2
	}
	k := 0
	for i := range max(spec.d1, spec.d2) {
		for b := range nBlocks {
			if i < dataLen(b) {
				blocks[b] = append(blocks[b], words[k])
				k++
			}
		}
	}
	for range spec.ec {
		for b := range nBlocks {
			blocks[b] = append(blocks[b], words[k])
			k++
		}
	}
	var data []byte
	for b, blk := range blocks {
		if !rsClean(blk, spec.ec) {
			return "", fmt.Errorf("%w: block %d of %d is damaged", ErrNoQR, b+1, nBlocks)
		}
		data = append(data, blk[:dataLen(b)]...)
	}
	return parseSegments(data, version)
}

// GF(256) with the QR polynomial x^8+x^4+x^3+x^2+1.
var gfExp, gfLog = func() (e [512]byte, l [256]byte) {
	x := 1
	for i := range 255 {
		e[i], l[x] = byte(x), byte(i)
		x <<= 1
		if x&0x100 != 0 {
			x ^= 0x11d
		}
	}
	for i := 255; i < 512; i++ {
		e[i] = e[i-255]
	}
	return e, l
}()

// rsClean reports whether a block (data then ec codewords) has all
// syndromes zero, i.e. is a codeword of the Reed-Solomon code.
func rsClean(blk []byte, ec int) bool {
	for i := range ec {
		var s byte
		for _, c := range blk {
			// s = s·α^i + c
			if s != 0 {
				s = gfExp[int(gfLog[s])+i]
			}
			s ^= c
		}
		if s != 0 {
			return false
		}
	}
	return true
}

// parseSegments reads the data bit stream: numeric, alphanumeric and byte
// segments (ECI designators skipped; byte data is taken as UTF-8).
func parseSegments(data []byte, version int) (string, error) {
	pos := 0
	read := func(n int) (int, bool) {
		if pos+n > len(data)*8 {
			return 0, false
		}
		v := 0
		for range n {
			v = v<<1 | int(data[pos/8]>>(7-pos%8)&1)
			pos++
		}
		return v, true
	}
	countBits := func(mode int) int {
		i := 0
		if version >= 27 {
			i = 2
		} else if version >= 10 {
			i = 1
		}
		switch mode {
		case 1:
			return [3]int{10, 12, 14}[i]
		case 2:
			return [3]int{9, 11, 13}[i]
		default:
			return [3]int{8, 16, 16}[i]
		}
	}
	const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	var out []byte
	for {
		mode, ok := read(4)
		if !ok || mode == 0 {
			return string(out), nil
		}
		switch mode {
		case 7: // ECI: the designator's length is in its first bits
			first, ok := read(8)
			if !ok {
				return "", fmt.Errorf("%w: truncated ECI", ErrNoQR)
			}
			switch {
			case first&0x80 == 0:
			case first&0xC0 == 0x80:
				read(8)
			default:
				read(16)
			}
			continue
		case 1, 2, 4:
		default:
			return "", fmt.Errorf("%w: segment mode %d not supported", ErrNoQR, mode)
		}
		n, ok := read(countBits(mode))
		if !ok {
			return "", fmt.Errorf("%w: truncated segment", ErrNoQR)
		}
		switch mode {
		case 4:
			for range n {
				b, ok := read(8)
				if !ok {
					return "", fmt.Errorf("%w: truncated byte segment", ErrNoQR)
				}
				out = append(out, byte(b))
			}
		case 2:
			for ; n >= 2; n -= 2 {
				v, ok := read(11)
				if !ok || v >= 45*45 {
					return "", fmt.Errorf("%w: bad alphanumeric segment", ErrNoQR)
				}
				out = append(out, alnum[v/45], alnum[v%45])
			}
			if n == 1 {
				v, ok := read(6)
				if !ok || v >= 45 {
					return "", fmt.Errorf("%w: bad alphanumeric segment", ErrNoQR)
				}
				out = append(out, alnum[v])
			}
		case 1:
			for ; n >= 3; n -= 3 {
				v, ok := read(10)
				if !ok || v > 999 {
					return "", fmt.Errorf("%w: bad numeric segment", ErrNoQR)
				}
				out = fmt.Appendf(out, "%03d", v)
			}
			if n > 0 {
				w := map[int]int{1: 4, 2: 7}[n]
				v, ok := read(w)
				if !ok {
					return "", fmt.Errorf("%w: bad numeric segment", ErrNoQR)
				}
				out = fmt.Appendf(out, "%0*d", n, v)
			}
		}
	}
}
