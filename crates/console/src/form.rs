//! Form bodies (`application/x-www-form-urlencoded`), read within a limit and parsed at
//! the edge. A field given twice is refused, so no part of the code can read one copy
//! while another part reads the other.

use std::collections::HashMap;

use actix_web::{web, HttpRequest};

use crate::error::ConsoleError;

/// Largest accepted form body: a password is at most 1024 characters, which
/// percent-encoded take at most 12 KiB.
pub(crate) const MAX_FORM_BYTES: usize = 16 * 1024;

/// A parsed form. `Debug` names the fields, never their values.
pub(crate) struct Form(HashMap<String, String>);

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Form {
    /// Reads and parses the request's body.
    pub(crate) async fn read(
        req: &HttpRequest,
        payload: web::Payload,
    ) -> Result<Form, ConsoleError> {
        if request_body::media_type(req).as_deref() != Some("application/x-www-form-urlencoded") {
            return Err(ConsoleError::BadRequest("the form was not sent as a form"));
        }
        let body = request_body::read_limited(req, payload, MAX_FORM_BYTES)
            .await
            .map_err(|_| ConsoleError::BadRequest("the form is too large or was cut off"))?;
        Form::parse(&body)
    }

    fn parse(body: &[u8]) -> Result<Form, ConsoleError> {
        let mut fields = HashMap::new();
        for (k, v) in form_urlencoded::parse(body) {
            if fields.insert(k.into_owned(), v.into_owned()).is_some() {
                return Err(ConsoleError::BadRequest("a form field was sent twice"));
            }
        }
        Ok(Form(fields))
    }

    /// A field's value, or empty.
    pub(crate) fn get(&self, name: &str) -> &str {
        self.0.get(name).map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::Form;

    #[test]
    fn fields_are_decoded_and_a_repeated_field_is_refused() {
        let f = Form::parse(b"email=a%40b.example&password=p+q%26").ok();
        let f = f.as_ref();
        assert_eq!(f.map(|f| f.get("email")), Some("a@b.example"));
        assert_eq!(f.map(|f| f.get("password")), Some("p q&"));
        assert_eq!(f.map(|f| f.get("other")), Some(""));
        assert!(format!("{:?}", f).contains("email") && !format!("{:?}", f).contains("p q"));
        assert!(Form::parse(b"a=1&a=2").is_err());
    }
}
