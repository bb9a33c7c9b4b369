package mlflow

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/llm-connector/llm-connector/internal/llmtest/fakemlflow"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestS3ArtifactURI: when the run's artifact_uri is s3://, the artifacts
// go straight to S3 (an in-process gofakes3 here), not to the proxy.
func TestS3ArtifactURI(t *testing.T) {
	backend := s3mem.New()
	if err := backend.CreateBucket("mlflow"); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(gofakes3.New(backend).Server())
	defer s3.Close()

	f := startFake(t, fakemlflow.Options{ArtifactRoot: "s3://mlflow/direct"})
	cfg := testConfig(t, f)
	cfg.S3EndpointURL = s3.URL
	cfg.S3AccessKey, cfg.S3SecretKey = "AKIAFAKE", "fake-secret"
	tr := openTracker(t, cfg)
	c := sampleCall(21)
	tr.Record(context.Background(), c)
	waitDrained(t, tr)

	exp := expID(t, f)
	r := f.Runs(exp)[0]
	if want := "s3://mlflow/direct/" + exp + "/" + r.ID + "/artifacts"; r.ArtifactURI != want {
		t.Fatalf("artifact_uri = %s, want %s", r.ArtifactURI, want)
	}
	if n := f.Calls()["PUT /api/2.0/mlflow-artifacts/artifacts/*"]; n != 0 {
		t.Fatalf("%d artifact PUTs went to the proxy", n)
	}
	mc, err := minio.New(s3.Listener.Addr().String(), &minio.Options{
		Creds: credentials.NewStaticV4("AKIAFAKE", "fake-secret", ""), BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		PromptArtifact:   promptText(c),
		ResponseArtifact: c.Response,
	} {
		obj, err := mc.GetObject(context.Background(), "mlflow", "direct/"+exp+"/"+r.ID+"/artifacts/"+name, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		if err != nil || string(got) != want {
			t.Fatalf("%s = %q (%v), want %q", name, got, err, want)
		}
	}
}

func TestS3WithoutCredentialsKeepsRecord(t *testing.T) {
	f := startFake(t, fakemlflow.Options{ArtifactRoot: "s3://mlflow/direct"})
	tr := openTracker(t, testConfig(t, f))
	tr.Record(context.Background(), sampleCall(22))
	eventually(t, "a failure", func() bool { return tr.Stats().Failures > 0 })
	if st := tr.Stats(); st.Backlog != 1 || st.LastError == "" {
		t.Fatalf("stats = %+v", st)
	}
}
