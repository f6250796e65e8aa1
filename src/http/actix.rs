//! actix-web: [`HttpError`] is a `ResponseError`.

use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::{Format, HttpError};
use crate::Constraint;

/// 409 with the [`ConflictBody`](crate::ConflictBody), or 500 with a body that tells nothing.
impl<C: Constraint, F: Format> ResponseError for HttpError<C, F> {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let (status, content_type, body) = self.answer();
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, content_type))
            .body(body)
    }
}
