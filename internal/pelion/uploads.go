package pelion

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

const uploadJobsPath = imagesPath + "/upload-jobs"

// uploadJobCreate is the body of POST /v3/firmware-images/upload-jobs.
type uploadJobCreate struct {
	Name               string `json:"name"`
	Description        string `json:"description,omitempty"`
	DatafileEncryption bool   `json:"datafile_encryption,omitempty"`
}

// ListUploadJobs returns one page of upload jobs.
func (c *Client) ListUploadJobs(ctx context.Context, opts ListOptions) (*Page[UploadJob], error) {
	return listPage[UploadJob](ctx, c, OpListUploadJobs, uploadJobsPath, opts)
}

// GetUploadJob returns one upload job.
func (c *Client) GetUploadJob(ctx context.Context, id string) (*UploadJob, error) {
	return getObject[UploadJob](ctx, c, OpGetUploadJob, uploadJobsPath+"/"+escapeID(id))
}

// FindUploadJobByName returns the oldest upload job with this exact name, or an ErrNotFound error.
func (c *Client) FindUploadJobByName(ctx context.Context, name string) (*UploadJob, error) {
	return findByName(ctx, "upload job", name, c.ListUploadJobs)
}

// DeleteUploadJob deletes an upload job; deleting one that is already gone succeeds.
func (c *Client) DeleteUploadJob(ctx context.Context, id string) error {
	return c.deleteIdempotent(ctx, OpDeleteUploadJob, uploadJobsPath+"/"+escapeID(id))
}

// ListUploadChunks returns one page of the chunks an upload job has received.
func (c *Client) ListUploadChunks(ctx context.Context, jobID string, opts ListOptions) (*Page[UploadChunk], error) {
	return listPage[UploadChunk](ctx, c, OpListUploadChunks, uploadJobsPath+"/"+escapeID(jobID)+"/chunks", opts)
}

// createUploadJob creates the job of up, named up.Name. A job of that name left by an interrupted
// earlier upload is deleted first, unless it already finished, in which case it is returned instead
// (its image is then checked like any other).
func (c *Client) createUploadJob(ctx context.Context, up ImageUpload) (*UploadJob, error) {
	name := up.Name
	if old, err := c.FindUploadJobByName(ctx, name); err == nil {
		if old.Complete && old.FirmwareImageID != "" {
			return old, nil
		}
		if err := c.DeleteUploadJob(ctx, old.ID); err != nil {
			return nil, fmt.Errorf("removing unfinished upload job %s: %w", old.ID, err)
		}
	} else if !IsNotFound(err) {
		return nil, err
	}
	body, err := jsonBody(uploadJobCreate{Name: name, Description: up.Description, DatafileEncryption: up.Encrypt})
	if err != nil {
		return nil, err
	}
	var job UploadJob
	err = c.do(ctx, &request{
		op: OpCreateUploadJob, method: http.MethodPost, path: uploadJobsPath,
		body: body, contentType: "application/json", observeFirst: true, out: &job,
		resolve: adoptByName(name, c.FindUploadJobByName, nil, &job),
	})
	if err != nil {
		return nil, err
	}
	return &job, nil
}

// createImageChunked uploads through an upload job: one chunk in memory at a time, each with its MD5,
// then an empty chunk to finish; it waits for the job's image and removes the job.
func (c *Client) createImageChunked(ctx context.Context, up ImageUpload) (*FirmwareImage, string, error) {
	job, err := c.createUploadJob(ctx, up)
	if err != nil {
		return nil, "", err
	}
	digest := ""
	if !job.Complete {
		if digest, err = c.sendChunks(ctx, job.ID, up); err != nil {
			return nil, "", err
		}
		if job, err = c.awaitUploadJob(ctx, job.ID); err != nil {
			return nil, "", err
		}
	}
	img, err := c.GetFirmwareImage(ctx, job.FirmwareImageID)
	if err != nil {
		return nil, "", fmt.Errorf("image of upload job %s: %w", job.ID, err)
	}
	if err := c.DeleteUploadJob(ctx, job.ID); err != nil {
		return nil, "", fmt.Errorf("removing finished upload job %s: %w", job.ID, err)
	}
	return img, digest, nil
}

func (c *Client) sendChunks(ctx context.Context, jobID string, up ImageUpload) (string, error) {
	src, err := up.Open()
	if err != nil {
		return "", &sourceError{err}
	}
	defer src.Close()
	hasher := sha256.New()
	data := io.TeeReader(io.LimitReader(sourceReader{src}, up.Size), hasher)
	buf := make([]byte, c.chunkSize)
	var sent int64
	for n := 0; ; n++ {
		size, err := io.ReadFull(data, buf)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return "", err
		}
		if err := c.sendChunk(ctx, jobID, n, buf[:size]); err != nil {
			return "", err
		}
		sent += int64(size)
		if size == 0 {
			break
		}
	}
	if sent != up.Size {
		return "", &sourceError{fmt.Errorf("image source gave %d bytes, expected %d", sent, up.Size)}
	}
	return hex.EncodeToString(hasher.Sum(nil)), nil
}

// sendChunk posts chunk number n (counting from 0) of a job; an empty chunk finishes the job. When the
// outcome of a post is unknown, the job's chunk list (or, for the last, the job itself) says whether it
// arrived, so no chunk is stored twice.
func (c *Client) sendChunk(ctx context.Context, jobID string, n int, chunk []byte) error {
	sum := md5.Sum(chunk)
	hash := base64.StdEncoding.EncodeToString(sum[:])
	return c.do(ctx, &request{
		op: OpCreateUploadChunk, method: http.MethodPost, path: uploadJobsPath + "/" + escapeID(jobID) + "/chunks",
		contentType: "binary/octet-stream",
		header:      http.Header{"Content-Md5": {hash}},
		body: func() (io.ReadCloser, int64, error) {
			return io.NopCloser(bytes.NewReader(chunk)), int64(len(chunk)), nil
		},
		upload: true, observeFirst: true,
		resolve: func(ctx context.Context) (bool, error) {
			if len(chunk) == 0 {
				job, err := c.GetUploadJob(ctx, jobID)
				return err == nil && job.Status != UploadJobInProgress, err
			}
			return c.chunkArrived(ctx, jobID, n, int64(len(chunk)), hash)
		},
	})
}

// chunkArrived reports whether the job holds exactly n+1 chunks, the last of this length and hash.
func (c *Client) chunkArrived(ctx context.Context, jobID string, n int, length int64, hash string) (bool, error) {
	var chunks []UploadChunk
	for info, err := range All(ctx, ListOptions{Limit: MaxPageSize}, func(ctx context.Context, o ListOptions) (*Page[UploadChunk], error) {
		return c.ListUploadChunks(ctx, jobID, o)
	}) {
		if err != nil {
			return false, err
		}
		chunks = append(chunks, info)
	}
	switch {
	case len(chunks) == n:
		return false, nil
	case len(chunks) == n+1 && chunks[n].Length == length && chunks[n].Hash == hash:
		return true, nil
	default:
		return false, fmt.Errorf("upload job %s holds %d chunks where %d were sent", jobID, len(chunks), n+1)
	}
}

// awaitUploadJob polls a finished job until the service has turned it into an image.
func (c *Client) awaitUploadJob(ctx context.Context, id string) (*UploadJob, error) {
	for {
		job, err := c.GetUploadJob(ctx, id)
		if err != nil {
			return nil, err
		}
		switch {
		case job.Complete && job.FirmwareImageID != "":
			return job, nil
		case job.Status != UploadJobInProgress && job.Status != UploadJobSuccess:
			return nil, fmt.Errorf("pelion: upload job %s ended with status %q", id, strings.TrimSpace(job.Status))
		}
		if err := sleep(ctx, c.pollInterval); err != nil {
			return nil, err
		}
	}
}

// Chunk pages continue after a chunk number.
func (o UploadChunk) objectID() string { return fmt.Sprint(o.ID) }
