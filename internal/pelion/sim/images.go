package sim

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fleetwave/fleetwave/internal/pelion"
)

const (
	maxNameLen          = 128
	maxDescriptionLen   = 2000
	maxImageFileNameLen = 166
	maxChunks           = 10000
	maxFormFieldLen     = 4 << 10
)

// image is a stored firmware image. data holds the bytes as uploaded, also when the service encrypts
// them: the datafile URL then serves their encryption (see datafile).
type image struct {
	obj  pelion.FirmwareImage
	data *blob
	enc  *encryption // nil unless uploaded with datafile_encryption
}

// uploadJob is a chunked upload in progress. obj is guarded by Server.mu; the chunk state by mu, which
// a chunk upload holds while it streams the chunk in.
type uploadJob struct {
	obj     pelion.UploadJob
	encrypt bool // datafile_encryption; guarded by Server.mu like obj

	mu        sync.Mutex
	data      *blob
	chunks    []pelion.UploadChunk
	shortPart bool // a chunk other than the last was under the minimum size
}

var imageSchema = schema[*image]{fields: map[string]field[*image]{
	"id":                idField(func(i *image) string { return i.obj.ID }),
	"name":              textField(func(i *image) string { return i.obj.Name }),
	"description":       textField(func(i *image) string { return i.obj.Description }),
	"datafile":          textField(func(i *image) string { return i.obj.Datafile }),
	"datafile_checksum": idField(func(i *image) string { return i.obj.DatafileChecksum }),
	"datafile_size":     {kindInt, textOps, func(i *image) string { return strconv.FormatInt(i.obj.DatafileSize, 10) }},
	"etag":              textField(func(i *image) string { return i.obj.ETag }),
	"created_at":        timeField(func(i *image) time.Time { return i.obj.CreatedAt }),
	"updated_at":        timeField(func(i *image) time.Time { return i.obj.UpdatedAt }),
}}

var uploadJobSchema = schema[*uploadJob]{fields: map[string]field[*uploadJob]{
	"id":          idField(func(j *uploadJob) string { return j.obj.ID }),
	"name":        textField(func(j *uploadJob) string { return j.obj.Name }),
	"description": textField(func(j *uploadJob) string { return j.obj.Description }),
	"status":      textField(func(j *uploadJob) string { return j.obj.Status }),
	"complete":    {kindText, []pelion.Operator{pelion.OpEq, pelion.OpNeq}, func(j *uploadJob) string { return strconv.FormatBool(j.obj.Complete) }},
	"created_at":  timeField(func(j *uploadJob) time.Time { return j.obj.CreatedAt }),
	"updated_at":  timeField(func(j *uploadJob) time.Time { return j.obj.UpdatedAt }),
}}

func checkName(name string) error {
	if len(name) > maxNameLen {
		return fieldError("name", "longer than %d characters", maxNameLen)
	}
	return nil
}

func checkDescription(description string) error {
	if len(description) > maxDescriptionLen {
		return fieldError("description", "longer than %d characters", maxDescriptionLen)
	}
	return nil
}

// checkUniqueName validates a name for self and refuses it (409) when another object of c has it; kind
// names the objects in the message ("an upload job"). Callers hold the lock that guards c.
func checkUniqueName[T comparable](c *collection[T], self T, name string, nameOf func(T) string, kind string) error {
	if err := checkName(name); err != nil {
		return err
	}
	for _, other := range c.items {
		if other != self && nameOf(other) == name {
			return &apiError{status: http.StatusConflict, typ: pelion.ErrTypeDuplicate, message: "Conflict, " + kind + " with the same name already exists."}
		}
	}
	return nil
}

// storeImage registers bytes as a new image, encrypted by the service when encrypt is set. Callers
// hold s.mu.
func (s *Server) storeImage(r *http.Request, name, description string, data *blob, encrypt bool) (*image, error) {
	now := s.now()
	id, _ := s.ids.id()
	img := &image{data: data, obj: pelion.FirmwareImage{
		ID: id, Name: name, Description: description, Datafile: s.baseURL(r) + "/datafiles/" + id,
		CreatedAt: now, UpdatedAt: now, ETag: etag(now), Object: pelion.ObjectFirmwareImage,
	}}
	if err := img.describeDatafile(encrypt); err != nil {
		return nil, err
	}
	s.images.add(id, img)
	s.ledger.created(kindImage, id, name, now)
	return img, nil
}

func (s *Server) createImage(w http.ResponseWriter, r *http.Request) error {
	mr, err := multipartReader(w, r, s.cfg.MaxMultipartImageSize+1<<20)
	if err != nil {
		return err
	}
	var form uploadForm
	var data *blob
	encrypt := false
	defer func() {
		if data != nil {
			data.release()
		}
	}()
	err = form.read(mr, func(part *multipart.Part) (err error) {
		switch part.FormName() {
		case "datafile":
			if len(part.FileName()) > maxImageFileNameLen {
				return fieldError("datafile", "file name longer than %d characters", maxImageFileNameLen)
			}
			data, err = s.receiveImage(part)
		case encryptionField:
			encrypt, err = encryptionFormValue(part)
		default:
			_, err = formValue(part)
		}
		return err
	})
	if err != nil {
		return err
	}
	if data == nil {
		return fieldError("datafile", "required")
	}
	if err := checkName(form.name); err != nil {
		return err
	}
	if err := checkDescription(form.description); err != nil {
		return err
	}
	s.mu.Lock()
	img, err := s.storeImage(r, form.name, form.description, data, encrypt)
	s.mu.Unlock()
	if err != nil {
		return err
	}
	data = nil
	writeJSON(w, http.StatusCreated, img.obj)
	return nil
}

// receiveImage streams a datafile part into storage, refusing images over the simple-upload limit.
func (s *Server) receiveImage(part io.Reader) (*blob, error) {
	data, err := newBlob(s.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	limit := s.cfg.MaxMultipartImageSize
	n, err := io.Copy(data, io.LimitReader(part, limit+1))
	if err == nil && n > limit {
		err = tooLarge(fmt.Sprintf("Firmware image too large: the limit is %d bytes; use an upload job.", limit))
	}
	if err != nil {
		data.release()
		return nil, multipartError(err)
	}
	return data, nil
}

// multipartReader checks the content type and bounds the body.
func multipartReader(w http.ResponseWriter, r *http.Request, limit int64) (*multipart.Reader, error) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		return nil, &apiError{status: http.StatusUnsupportedMediaType, typ: pelion.ErrTypeUnsupportedMedia, message: "Expected a multipart/form-data body."}
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return multipart.NewReader(r.Body, params["boundary"]), nil
}

func multipartError(err error) error {
	var tooBig *http.MaxBytesError
	var api *apiError
	switch {
	case errors.As(err, &api):
		return api
	case errors.As(err, &tooBig):
		return tooLarge(fmt.Sprintf("Request body exceeds %d bytes.", tooBig.Limit))
	case isTimeout(err):
		return requestTimeout()
	default:
		return badRequest("Malformed multipart body: " + err.Error())
	}
}

// uploadForm holds the text fields every upload form carries.
type uploadForm struct {
	name, description string
	haveName          bool // a name part was sent, even an empty one
}

// read reads a multipart form: the name and description parts into f, every other part through other.
func (f *uploadForm) read(mr *multipart.Reader, other func(*multipart.Part) error) error {
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return multipartError(err)
		}
		switch part.FormName() {
		case "name":
			f.haveName = true
			f.name, err = formValue(part)
		case "description":
			f.description, err = formValue(part)
		default:
			err = other(part)
		}
		if err != nil {
			return err
		}
	}
}

func formValue(part *multipart.Part) (string, error) {
	data, err := io.ReadAll(io.LimitReader(part, maxFormFieldLen+1))
	if err != nil {
		return "", multipartError(err)
	}
	if len(data) > maxFormFieldLen {
		return "", fieldError(part.FormName(), "longer than %d bytes", maxFormFieldLen)
	}
	return string(data), nil
}

func imageView(i *image) pelion.FirmwareImage { return i.obj }

func (s *Server) listImages(w http.ResponseWriter, r *http.Request) error {
	return listObjects(w, r, &s.mu, s.images, imageSchema, imageView)
}

func (s *Server) getImage(w http.ResponseWriter, r *http.Request) error {
	return getObject(w, r, &s.mu, s.images, "Firmware image", imageView)
}

func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request) error {
	return deleteObject(w, r, &s.mu, s.images, "Firmware image", nil, func(i *image) { i.data.release() })
}

// serveDatafile serves an image's bytes, as the service's storage does for devices (no API key).
func (s *Server) serveDatafile(w http.ResponseWriter, r *http.Request) error {
	img, err := lookupObject(r, &s.mu, s.images, "Datafile")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	content, size := img.datafile()
	http.ServeContent(w, r, "", img.obj.CreatedAt, io.NewSectionReader(content, 0, size))
	return nil
}

func (s *Server) jobView(j *uploadJob) pelion.UploadJob { return j.obj }

func jobName(j *uploadJob) string { return j.obj.Name }

func (s *Server) listUploadJobs(w http.ResponseWriter, r *http.Request) error {
	return listObjects(w, r, &s.mu, s.jobs, uploadJobSchema, s.jobView)
}

func (s *Server) getUploadJob(w http.ResponseWriter, r *http.Request) error {
	return getObject(w, r, &s.mu, s.jobs, "Upload job", s.jobView)
}

type uploadJobRequest struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	// Encryption is decoded by hand (encryptionJSONValue) so that a bad value is an error naming it.
	Encryption json.RawMessage `json:"datafile_encryption"`
}

func (s *Server) createUploadJob(w http.ResponseWriter, r *http.Request) error {
	var req uploadJobRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	now := s.now()
	job := &uploadJob{obj: pelion.UploadJob{Status: pelion.UploadJobInProgress, CreatedAt: now, UpdatedAt: now, ETag: etag(now), Object: pelion.ObjectUploadJob}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.applyJobFields(job, &req); err != nil {
		return err
	}
	data, err := newBlob(s.cfg.DataDir)
	if err != nil {
		return err
	}
	job.data = data
	job.obj.ID, _ = s.ids.id()
	s.jobs.add(job.obj.ID, job)
	s.ledger.created(kindUploadJob, job.obj.ID, job.obj.Name, now)
	w.Header().Set("Location", s.baseURL(r)+"/v3/firmware-images/upload-jobs/"+job.obj.ID)
	writeJSON(w, http.StatusCreated, job.obj)
	return nil
}

// applyJobFields validates and applies name, description and datafile_encryption; job names are
// unique. Callers hold s.mu.
func (s *Server) applyJobFields(job *uploadJob, req *uploadJobRequest) error {
	encrypt, err := encryptionJSONValue(req.Encryption, job.encrypt)
	if err != nil {
		return err
	}
	if req.Name != nil {
		if err := checkUniqueName(s.jobs, job, *req.Name, jobName, "an upload job"); err != nil {
			return err
		}
		job.obj.Name = *req.Name
	}
	if req.Description != nil {
		if err := checkDescription(*req.Description); err != nil {
			return err
		}
		job.obj.Description = *req.Description
	}
	job.encrypt = encrypt
	return nil
}

func (s *Server) updateUploadJob(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req uploadJobRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	return withObjectID(&s.mu, s.jobs, id, "Upload job", func(_ string, job *uploadJob) error {
		if err := s.applyJobFields(job, &req); err != nil {
			return err
		}
		now := s.now()
		job.obj.UpdatedAt, job.obj.ETag = now, etag(now)
		writeJSON(w, http.StatusOK, job.obj)
		return nil
	})
}

func (s *Server) deleteUploadJob(w http.ResponseWriter, r *http.Request) error {
	return deleteObject(w, r, &s.mu, s.jobs, "Upload job", nil, func(job *uploadJob) {
		job.mu.Lock()
		defer job.mu.Unlock()
		if !job.obj.Complete {
			job.data.release()
		}
	})
}

// uploadChunk appends a chunk to a job; an empty chunk finishes the job and makes its image.
func (s *Server) uploadChunk(w http.ResponseWriter, r *http.Request) error {
	job, err := s.lookupJob(r)
	if err != nil {
		return err
	}
	wantMD5, err := contentMD5(r.Header.Get("Content-Md5"))
	if err != nil {
		return err
	}
	job.mu.Lock()
	defer job.mu.Unlock()
	if job.obj.Status != pelion.UploadJobInProgress {
		return conflict("The upload job is already complete.")
	}
	if len(job.chunks) >= maxChunks {
		return badRequest(fmt.Sprintf("An upload job takes at most %d chunks.", maxChunks))
	}
	info, err := s.appendChunk(w, r, job, wantMD5)
	if err != nil {
		return err
	}
	if info.Length == 0 {
		if err := s.finishUploadJob(r, job); err != nil {
			return err
		}
	}
	location := fmt.Sprintf("%s/v3/firmware-images/upload-jobs/%s/chunks/%d", s.baseURL(r), job.obj.ID, info.ID)
	w.Header().Set("Location", location)
	w.Header().Set("Content-Location", location)
	writeJSON(w, http.StatusCreated, info)
	return nil
}

func contentMD5(header string) ([]byte, error) {
	if header == "" {
		return nil, nil
	}
	sum, err := base64.StdEncoding.DecodeString(header)
	if err != nil || len(sum) != md5.Size {
		return nil, fieldError("Content-MD5", "not a base64 MD5 digest")
	}
	return sum, nil
}

// appendChunk streams the body into the job's storage, checking size and MD5; a rejected chunk leaves
// the job as it was. Callers hold job.mu.
func (s *Server) appendChunk(w http.ResponseWriter, r *http.Request, job *uploadJob, wantMD5 []byte) (pelion.UploadChunk, error) {
	mark := job.data.size
	hasher := md5.New()
	body := http.MaxBytesReader(w, r.Body, pelion.MaxChunkSize)
	n, err := io.Copy(io.MultiWriter(job.data, hasher), body)
	if err == nil && mark+n > s.cfg.MaxImageSize {
		err = tooLarge(fmt.Sprintf("Firmware image too large: the limit is %d bytes.", s.cfg.MaxImageSize))
	}
	if err == nil && wantMD5 != nil && string(hasher.Sum(nil)) != string(wantMD5) {
		err = fieldError("Content-MD5", "does not match the chunk")
	}
	if err != nil {
		if terr := job.data.truncate(mark); terr != nil {
			return pelion.UploadChunk{}, terr
		}
		return pelion.UploadChunk{}, multipartError(err)
	}
	if len(job.chunks) > 0 && job.chunks[len(job.chunks)-1].Length < pelion.MinChunkSize && n > 0 {
		job.shortPart = true
	}
	now := s.now()
	info := pelion.UploadChunk{ID: len(job.chunks), UploadJobID: job.obj.ID, Length: n, CreatedAt: now, UpdatedAt: now, ETag: etag(now), Object: pelion.ObjectUploadChunk}
	if wantMD5 != nil {
		info.Hash = base64.StdEncoding.EncodeToString(wantMD5)
	}
	job.chunks = append(job.chunks, info)
	return info, nil
}

// finishUploadJob turns a job's chunks into an image, or fails the job when a chunk other than the
// last was under the minimum size (the service only notices at the end). Callers hold job.mu.
func (s *Server) finishUploadJob(r *http.Request, job *uploadJob) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	job.obj.Complete, job.obj.UpdatedAt, job.obj.ETag = true, now, etag(now)
	if job.shortPart {
		job.obj.Status = pelion.UploadJobFailed
		job.data.release()
		return nil
	}
	img, err := s.storeImage(r, job.obj.Name, job.obj.Description, job.data, job.encrypt)
	if err != nil {
		return err
	}
	job.obj.Status, job.obj.FirmwareImageID = pelion.UploadJobSuccess, img.obj.ID
	return nil
}

var chunkSchema = schema[pelion.UploadChunk]{fields: map[string]field[pelion.UploadChunk]{
	"id":         {kindInt, rangeOps, func(c pelion.UploadChunk) string { return strconv.Itoa(c.ID) }},
	"hash":       textField(func(c pelion.UploadChunk) string { return c.Hash }),
	"length":     intField(func(c pelion.UploadChunk) string { return strconv.FormatInt(c.Length, 10) }),
	"created_at": timeField(func(c pelion.UploadChunk) time.Time { return c.CreatedAt }),
	"updated_at": timeField(func(c pelion.UploadChunk) time.Time { return c.UpdatedAt }),
}}

// chunkCursor orders chunk numbers as fixed-width text, so chunk pages use the same cursor logic.
func chunkCursor(n int) string { return fmt.Sprintf("%010d", n) }

func (s *Server) listUploadChunks(w http.ResponseWriter, r *http.Request) error {
	job, err := s.lookupJob(r)
	if err != nil {
		return err
	}
	p, _, match, err := listRequest(r, chunkSchema)
	if err != nil {
		return err
	}
	if p.after != "" {
		n, _ := strconv.Atoi(p.after)
		p.after = chunkCursor(n)
	}
	job.mu.Lock()
	chunks := job.chunks[:len(job.chunks):len(job.chunks)]
	job.mu.Unlock()
	page, hasMore, total := pageOver(len(chunks), func(i int) string { return chunkCursor(chunks[i].ID) },
		func(i int) pelion.UploadChunk { return chunks[i] }, p, match)
	p.after = strings.TrimLeft(p.after, "0")
	writeJSON(w, http.StatusOK, listResponse(page, hasMore, total, p))
	return nil
}

func (s *Server) getUploadChunk(w http.ResponseWriter, r *http.Request) error {
	job, err := s.lookupJob(r)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(r.PathValue("chunk"))
	if err != nil {
		return fieldError("chunk_id", "not a chunk number: %q", r.PathValue("chunk"))
	}
	job.mu.Lock()
	defer job.mu.Unlock()
	if n < 0 || n >= len(job.chunks) {
		return notFound("Upload chunk")
	}
	writeJSON(w, http.StatusOK, job.chunks[n])
	return nil
}

func (s *Server) lookupJob(r *http.Request) (*uploadJob, error) {
	return lookupObject(r, &s.mu, s.jobs, "Upload job")
}
