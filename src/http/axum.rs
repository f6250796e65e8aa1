//! axum: [`HttpError`] is an `IntoResponse`.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{Format, HttpError};
use crate::Constraint;

/// The error a response answered, in the response's extensions: for a logging middleware,
/// since a handler that ends with `?` logs nothing itself. `Display` shows no duplicated
/// value.
///
/// # Examples
///
/// ```
/// use axum::{extract::Request, middleware::Next, response::Response};
///
/// async fn log_errors(request: Request, next: Next) -> Response {
///     let response = next.run(request).await;
///     if let Some(err) = response.extensions().get::<dupkey::http::Answered>() {
///         eprintln!("{} {err}", response.status());
///     }
///     response
/// }
/// ```
#[derive(Clone)]
pub struct Answered(Arc<dyn StdError + Send + Sync>);

impl Answered {
    /// The error.
    pub fn error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Display for Answered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for Answered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// 409 with the [`ConflictBody`](crate::ConflictBody), or 500 with a body that tells
/// nothing; the error itself goes into the extensions as [`Answered`].
impl<C: Constraint, F: Format> IntoResponse for HttpError<C, F> {
    fn into_response(self) -> Response {
        let (status, content_type, body) = self.answer();
        let mut response = Response::new(body.into());
        *response.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response.extensions_mut().insert(Answered(Arc::new(self)));
        response
    }
}
