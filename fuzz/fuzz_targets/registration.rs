//! Dynamic client registration (RFC 7591 §2, `clients::registration`): any JSON body, at
//! the open door or with an initial access token, either fails to parse or gives an answer
//! without panicking; a client it would create has only redirect URIs the registration
//! check accepts, and the open door creates only public clients.
#![no_main]

use latch::clients::validate_redirect_uri;
use latch::fuzzing::registration;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&door, body)) = data.split_first() else {
        return;
    };
    let open = door & 1 == 1;
    if let Some(Ok((uris, public))) = registration(body, open) {
        for u in &uris {
            assert!(validate_redirect_uri(u).is_ok(), "{u:?}");
        }
        assert!(public || !open);
    }
});
