//! Replays the `signature_manifest` fuzzing corpus (`fuzz/corpus/`, see docs/fuzzing.md)
//! through the check a run applies to each signature manifest, and pins its answers on the
//! notation-made manifests the corpus started from.

use std::path::PathBuf;
use vouch_core::{Descriptor, Digest};

fn corpus() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/signature_manifest");
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    assert!(!files.is_empty(), "fuzz/corpus/signature_manifest is empty");
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

fn desc(bytes: &[u8]) -> Descriptor {
    Descriptor::new("application/vnd.oci.image.manifest.v1+json", Digest::sha256_of(bytes), bytes.len() as u64)
}

#[test]
fn signature_manifest_corpus() {
    let subject = Digest::sha256_of(b"an image");
    for input in corpus() {
        let _ = vouch_pipeline::signature_layer(&input, &desc(&input), &subject);
    }
}

#[test]
fn a_signature_manifest_for_another_image_is_refused() {
    let subject = Digest::sha256_of(b"an image");
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.cncf.notary.signature","config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},"layers":[{{"mediaType":"application/jose+json","digest":"{}","size":3}}],"subject":{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":1}}}}"#,
        Digest::sha256_of(b"jws"),
        Digest::sha256_of(b"other image")
    );
    let err = vouch_pipeline::signature_layer(manifest.as_bytes(), &desc(manifest.as_bytes()), &subject).unwrap_err();
    assert!(err.contains("not for this image"), "{err}");
    let same = manifest.replace(&Digest::sha256_of(b"other image").to_string(), &subject.to_string());
    let layer = vouch_pipeline::signature_layer(same.as_bytes(), &desc(same.as_bytes()), &subject).unwrap().unwrap();
    assert_eq!(layer.media_type, "application/jose+json");
}
