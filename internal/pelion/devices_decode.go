package pelion

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
)

// devicePage decodes a page of the device directory. A campaign walks its whole fleet a page of 1000
// devices at a time, and encoding/json's reflection was most of a walk's time; this reads the pages
// the service sends directly, and hands anything outside that plain form (escaped strings, keys in
// another case, a value of an unexpected type, malformed JSON) to encoding/json, so the result and
// the errors are always encoding/json's.
type devicePage struct {
	out   *Page[Device]
	limit int // the page size asked for, which sizes the page's slice
}

// pageBuffers keeps the buffers pages are read into (half a megabyte for 1000 devices) for the next
// pages. Unlike a sync.Pool, it keeps them across garbage collections, which come every few pages.
var pageBuffers = make(chan *bytes.Buffer, 4)

func (d devicePage) decodeBody(r io.Reader) error {
	var buf *bytes.Buffer
	select {
	case buf = <-pageBuffers:
		buf.Reset()
	default:
		buf = new(bytes.Buffer)
	}
	defer func() {
		select {
		case pageBuffers <- buf:
		default:
		}
	}()
	if _, err := buf.ReadFrom(r); err != nil {
		return err
	}
	page := Page[Device]{Data: make([]Device, 0, min(max(d.limit, 0), MaxPageSize))}
	if decodeDevicePage(buf.Bytes(), &page) {
		*d.out = page
		return nil
	}
	return json.NewDecoder(bytes.NewReader(buf.Bytes())).Decode(d.out)
}

// decodeDevicePage decodes data into page as json.Decoder.Decode would into an empty page, or reports
// false when data is outside the plain form it reads. page.Data is an empty slice with room for the
// page's devices. Like Decode, it ignores what follows the page's object.
func decodeDevicePage(data []byte, page *Page[Device]) bool {
	p := jsonReader{b: data}
	defer func() {
		if !p.sawData {
			page.Data = nil
		}
	}()
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "object":
			return p.text(&page.Object, "")
		case "data":
			return p.devices(&page.Data)
		case "has_more":
			return p.boolean(&page.HasMore)
		case "after":
			return p.text(&page.After, "")
		case "limit":
			return p.integer(&page.Limit)
		case "order":
			return p.text(&page.Order, "")
		case "total_count":
			if p.null() {
				page.TotalCount = nil
				return true
			}
			page.TotalCount = new(int)
			return p.integer(page.TotalCount)
		}
		return p.unknown(key)
	})
}

// devices reads an array of devices into out, an empty slice with room for a page. A second array
// (a repeated key) is left to encoding/json, which would decode it over the first. A value equal to
// the one before it in the same field reuses its string: most fields (state, vendor, class, firmware)
// repeat from device to device.
func (p *jsonReader) devices(out *[]Device) bool {
	if p.null() {
		*out = nil
		return true
	}
	if *out == nil || len(*out) > 0 || p.sawData {
		return false
	}
	p.sawData = true
	var prev Device
	return p.array(func() bool {
		var d Device
		if !p.device(&d, &prev) {
			return false
		}
		*out = append(*out, d)
		prev = d
		return true
	})
}

func (p *jsonReader) device(d, prev *Device) bool {
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return false
	}
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return p.text(&d.ID, "")
		case "name":
			return p.text(&d.Name, prev.Name)
		case "description":
			return p.text(&d.Description, prev.Description)
		case "endpoint_name":
			return p.text(&d.EndpointName, prev.EndpointName)
		case "state":
			return p.text(&d.State, prev.State)
		case "lifecycle_status":
			return p.text(&d.LifecycleStatus, prev.LifecycleStatus)
		case "vendor_id":
			return p.text(&d.VendorID, prev.VendorID)
		case "device_class":
			return p.text(&d.DeviceClass, prev.DeviceClass)
		case "firmware_checksum":
			return p.text(&d.FirmwareChecksum, prev.FirmwareChecksum)
		case "mechanism":
			return p.text(&d.Mechanism, prev.Mechanism)
		case "custom_attributes":
			return d.CustomAttributes == nil && p.attributes(&d.CustomAttributes)
		case "created_at":
			return p.time(&d.CreatedAt, 0)
		case "updated_at":
			return p.time(&d.UpdatedAt, 1)
		case "etag":
			return p.text(&d.ETag, prev.ETag)
		case "object":
			return p.text(&d.Object, prev.Object)
		}
		return p.unknown(key)
	})
}

// attributes reads a map of strings; a null value in it is left to encoding/json.
func (p *jsonReader) attributes(out *map[string]string) bool {
	if p.null() {
		return true
	}
	m := map[string]string{}
	*out = m
	return p.object(func(key []byte) bool {
		v, ok := p.plain()
		if ok {
			m[string(key)] = string(v)
		}
		return ok
	})
}

// unknown skips the value of a key the type does not have. encoding/json matches keys regardless of
// case, so a key with an upper-case or non-ASCII letter might name a field: such a page is left to it.
func (p *jsonReader) unknown(key []byte) bool {
	for _, c := range key {
		if 'A' <= c && c <= 'Z' || c >= utf8.RuneSelf {
			return false
		}
	}
	return p.skip(0)
}

// jsonReader reads JSON values from b at i. Its methods report false on anything they do not read,
// which makes the whole page go to encoding/json.
type jsonReader struct {
	b       []byte
	i       int
	sawData bool        // a page's data array was read
	times   [2]struct { // the last date-time read of each field, as text and parsed
		raw []byte
		t   time.Time
	}
}

// maxDepth bounds the nesting skip follows, as encoding/json bounds its own.
const maxDepth = 10000

func (p *jsonReader) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next consumes byte c, after white space, when it comes next.
func (p *jsonReader) next(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *jsonReader) literal(word string) bool {
	p.ws()
	if !bytes.HasPrefix(p.b[p.i:], []byte(word)) {
		return false
	}
	p.i += len(word)
	return true
}

func (p *jsonReader) null() bool { return p.literal("null") }

// object calls member for each key of an object, with the reader at the key's value, which member
// reads.
func (p *jsonReader) object(member func(key []byte) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	for {
		key, ok := p.plain()
		if !ok || !p.next(':') || !member(key) {
			return false
		}
		if !p.next(',') {
			return p.next('}')
		}
	}
}

// array calls elem for each element of an array, with the reader at the element.
func (p *jsonReader) array(elem func() bool) bool {
	if !p.next('[') {
		return false
	}
	if p.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if !p.next(',') {
			return p.next(']')
		}
	}
}

// plain reads a string that needs no unescaping: no escapes, no control characters, valid UTF-8.
func (p *jsonReader) plain() ([]byte, bool) {
	p.ws()
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return nil, false
	}
	start := p.i + 1
	end, ascii := start+asciiLen(p.b[start:]), true
	for end < len(p.b) && p.b[end] >= utf8.RuneSelf {
		ascii = false
		end++
		end += asciiLen(p.b[end:])
	}
	if end >= len(p.b) || p.b[end] != '"' || !ascii && !utf8.Valid(p.b[start:end]) {
		return nil, false
	}
	p.i = end + 1
	return p.b[start:end], true
}

// asciiLen is the length of the plain ASCII text b starts with: up to its first quote, backslash,
// control or non-ASCII byte. It looks at 8 bytes at a time: string contents are most of a page.
func asciiLen(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if x&highBits|anyBelow(x, 0x20)|anyBelow(x^'"'*lowBits, 1)|anyBelow(x^'\\'*lowBits, 1) != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			break
		}
	}
	return i
}

const lowBits, highBits = 0x0101010101010101, 0x8080808080808080

// anyBelow is non-zero when a byte of x is below n, for x without high bits and n at most 0x80.
func anyBelow(x, n uint64) uint64 { return (x - n*lowBits) &^ x & highBits }

// text reads a string into out, reusing same when the text is the same; null leaves out alone.
func (p *jsonReader) text(out *string, same string) bool {
	if p.null() {
		return true
	}
	s, ok := p.plain()
	switch {
	case !ok:
		return false
	case string(s) == same:
		*out = same
	default:
		*out = string(s)
	}
	return true
}

func (p *jsonReader) boolean(out *bool) bool {
	switch {
	case p.literal("true"):
		*out = true
	case p.literal("false"):
		*out = false
	default:
		return p.null()
	}
	return true
}

func (p *jsonReader) integer(out *int) bool {
	if p.null() {
		return true
	}
	num, ok := p.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(num), 10, 0)
	*out = int(n)
	return err == nil
}

// time reads a date-time as time.Time's UnmarshalJSON does; null leaves out alone. The text of the
// same field of the device before is not parsed again.
func (p *jsonReader) time(out *time.Time, field int) bool {
	p.ws()
	start := p.i
	if !p.skip(0) {
		return false
	}
	last := &p.times[field]
	if raw := p.b[start:p.i]; !bytes.Equal(raw, last.raw) {
		if err := last.t.UnmarshalJSON(raw); err != nil {
			return false
		}
		last.raw = raw
	}
	if last.raw[0] != 'n' { // null leaves out alone
		*out = last.t
	}
	return true
}

// number reads a number as JSON writes one.
func (p *jsonReader) number() ([]byte, bool) {
	p.ws()
	start := p.i
	p.i += prefixLen(p.b[p.i:], "-")
	switch digits := p.digits(); {
	case digits == 0:
		return nil, false
	case digits > 1 && p.b[start+prefixLen(p.b[start:], "-")] == '0':
		return nil, false
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if p.digits() == 0 {
			return nil, false
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if p.digits() == 0 {
			return nil, false
		}
	}
	return p.b[start:p.i], true
}

func (p *jsonReader) digits() int {
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i - start
}

func prefixLen(b []byte, prefix string) int {
	if bytes.HasPrefix(b, []byte(prefix)) {
		return len(prefix)
	}
	return 0
}

// skip reads past any one value, checking it is well formed.
func (p *jsonReader) skip(depth int) bool {
	p.ws()
	if p.i >= len(p.b) || depth > maxDepth {
		return false
	}
	switch p.b[p.i] {
	case '"':
		return p.skipString()
	case '{':
		return p.object(func([]byte) bool { return p.skip(depth + 1) })
	case '[':
		return p.array(func() bool { return p.skip(depth + 1) })
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.null()
	}
	_, ok := p.number()
	return ok
}

// skipString reads past a string, escapes included.
func (p *jsonReader) skipString() bool {
	for p.i++; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if p.i++; p.i >= len(p.b) {
				return false
			}
			switch p.b[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if p.i+4 >= len(p.b) || !isHex4(p.b[p.i+1:p.i+5]) {
					return false
				}
				p.i += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}
