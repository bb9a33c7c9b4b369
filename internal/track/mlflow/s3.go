package mlflow

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3Uploader writes artifacts straight to S3 (or MinIO) for runs whose
// artifact_uri is s3://bucket/prefix, as MLflow's own clients do.
type s3Uploader struct {
	cfg  *Config
	once sync.Once
	cl   *minio.Client
	err  error
}

func (u *s3Uploader) client() (*minio.Client, error) {
	u.once.Do(func() {
		endpoint, secure := "s3.amazonaws.com", true
		lookup := minio.BucketLookupAuto
		if u.cfg.S3EndpointURL != "" {
			e, err := url.Parse(u.cfg.S3EndpointURL)
			if err != nil || e.Host == "" {
				u.err = &permanentError{errors.New("mlflow: MLFLOW_S3_ENDPOINT_URL is not a URL")}
				return
			}
			endpoint, secure = e.Host, e.Scheme == "https"
			lookup = minio.BucketLookupPath // MinIO and most S3 look-alikes
		}
		if u.cfg.S3AccessKey == "" || u.cfg.S3SecretKey == "" {
			u.err = &permanentError{errors.New("mlflow: s3:// artifact URI but AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set")}
			return
		}
		opts := &minio.Options{
			Creds:        credentials.NewStaticV4(u.cfg.S3AccessKey, u.cfg.S3SecretKey, ""),
			Secure:       secure,
			Region:       u.cfg.S3Region,
			BucketLookup: lookup,
		}
		if u.cfg.S3IgnoreTLS && secure {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // MLFLOW_S3_IGNORE_TLS asks for it
			opts.Transport = tr
		}
		u.cl, u.err = minio.New(endpoint, opts)
		if u.err != nil {
			u.err = &permanentError{fmt.Errorf("mlflow: s3 client: %w", u.err)}
		}
	})
	return u.cl, u.err
}

// put writes name under uri ("s3://bucket/prefix/.../artifacts").
func (u *s3Uploader) put(ctx context.Context, uri, name string, data []byte) error {
	cl, err := u.client()
	if err != nil {
		return err
	}
	rest := strings.TrimPrefix(uri, "s3://")
	bucket, prefix, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return &permanentError{fmt.Errorf("mlflow: artifact %s: bad s3 URI", name)}
	}
	key := strings.Trim(prefix, "/") + "/" + name
	key = strings.TrimPrefix(key, "/")
	_, err = cl.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "text/plain; charset=utf-8"})
	if err != nil {
		return fmt.Errorf("mlflow: s3 put %s: %w", name, scrubURLError(err))
	}
	return nil
}
