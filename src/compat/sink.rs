//! Translated streams: a [`StreamSink`] that sits between the gateway's
//! stream loop and the caller's sink. It sees the upstream's events after
//! commit and hands the caller translated events (`on_event`) and their SSE
//! bytes (`on_data`) as they come, holding nothing back but one event.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use super::{CompatStep, OutEvent, StreamTranslator};
use crate::call::gateway::Plan;
use crate::call::response::Response;
use crate::call::stream::{StreamSink, is_event_stream};
use crate::error::{Error, ErrorKind, Result};
use crate::http::sse::SseEvent;

enum Active {
    /// Not a translated step, or an error answer (already translated whole).
    Plain,
    /// A translated (or pass-through, `translator` only watching) stream.
    Stream {
        step: Arc<CompatStep>,
        translator: StreamTranslator,
    },
    /// A whole JSON answer on the streaming path: translated at the end.
    Whole {
        step: Arc<CompatStep>,
        head: Response,
        body: Vec<u8>,
    },
}

/// The translation of each step, by index. A routed request's steps are
/// planned while the stream runs, so its list is shared with the step source.
pub type StepTranslations = Rc<RefCell<Vec<Option<Arc<CompatStep>>>>>;

pub struct CompatSink<'a> {
    inner: &'a mut dyn StreamSink,
    steps: StepTranslations,
    active: Active,
    out: Vec<OutEvent>,
    bytes: Vec<u8>,
    /// Why a callback returned false, when it was the translation's fault.
    failure: Option<Error>,
}

impl<'a> CompatSink<'a> {
    /// `None` when no step of the plan is translated.
    pub fn wrap(
        plan: &Plan,
        inner: &'a mut dyn StreamSink,
    ) -> std::result::Result<CompatSink<'a>, &'a mut dyn StreamSink> {
        if plan.steps.iter().all(|s| s.compat.is_none()) {
            return Err(inner);
        }
        Ok(CompatSink {
            inner,
            steps: Rc::new(RefCell::new(
                plan.steps.iter().map(|s| s.compat.clone()).collect(),
            )),
            active: Active::Plain,
            out: Vec::new(),
            bytes: Vec::new(),
            failure: None,
        })
    }

    /// For steps planned as the run goes (a `dynamic/<route>` walk): `steps`
    /// is filled by the step source before each step runs.
    pub fn wrap_shared(steps: StepTranslations, inner: &'a mut dyn StreamSink) -> CompatSink<'a> {
        CompatSink {
            inner,
            steps,
            active: Active::Plain,
            out: Vec::new(),
            bytes: Vec::new(),
            failure: None,
        }
    }

    /// The translation's own failure, which explains an abort.
    pub fn take_failure(&mut self) -> Option<Error> {
        self.failure.take()
    }

    /// Usage the translated stream reported, for the log.
    pub fn usage(&self) -> Option<super::TokenUsage> {
        match &self.active {
            Active::Stream { translator, .. } => translator.usage,
            _ => None,
        }
    }

    /// After the stream ended: a missing end marker is an interrupted
    /// stream; a whole answer is translated and delivered now.
    pub fn finish(&mut self) -> Result<()> {
        match std::mem::replace(&mut self.active, Active::Plain) {
            Active::Plain => Ok(()),
            Active::Stream { step, translator } => {
                let ended = translator.ended;
                // Kept, so that `usage()` still answers.
                self.active = Active::Stream {
                    step: step.clone(),
                    translator,
                };
                if ended {
                    Ok(())
                } else {
                    Err(Error::new(
                        ErrorKind::StreamInterrupted,
                        format!(
                            "{}: the stream ended before {}; what was delivered stays delivered",
                            step.who(),
                            step.end_marker()
                        ),
                    ))
                }
            }
            Active::Whole {
                step,
                mut head,
                body,
            } => {
                head.body = body;
                step.translate_whole(&mut head)?;
                if !self.inner.on_data(&head.body) {
                    return Err(Error::new(
                        ErrorKind::Aborted,
                        "aborted: on_data returned non-zero",
                    ));
                }
                Ok(())
            }
        }
    }
}

impl StreamSink for CompatSink<'_> {
    fn on_response(&mut self, head: &Response) -> bool {
        let step = self.steps.borrow().get(head.step).cloned().flatten();
        self.active = match step {
            Some(step) if head.is_success() && step.stream && is_event_stream(head) => {
                Active::Stream {
                    translator: step.stream_translator(),
                    step,
                }
            }
            Some(step) if head.is_success() && !step.passthrough => Active::Whole {
                step,
                head: head.clone(),
                body: Vec::new(),
            },
            _ => Active::Plain,
        };
        self.inner.on_response(head)
    }

    fn on_data(&mut self, data: &[u8]) -> bool {
        match &mut self.active {
            Active::Plain => self.inner.on_data(data),
            Active::Stream { step, .. } if step.passthrough => self.inner.on_data(data),
            // The upstream's bytes are replaced by the translated events'.
            Active::Stream { .. } => true,
            Active::Whole { body, .. } => {
                body.extend_from_slice(data);
                true
            }
        }
    }

    fn on_event(&mut self, event: &SseEvent<'_>) -> bool {
        let Active::Stream { step, translator } = &mut self.active else {
            return self.inner.on_event(event);
        };
        self.out.clear();
        if let Err(e) = translator.feed(event, &mut self.out) {
            self.failure = Some(Error::new(
                ErrorKind::StreamInterrupted,
                format!(
                    "{}: a stream event is not valid {}: {e}",
                    step.who(),
                    step.dialect.name()
                ),
            ));
            return false;
        }
        if step.passthrough {
            return self.inner.on_event(event);
        }
        for ev in &self.out {
            self.bytes.clear();
            ev.to_sse(&mut self.bytes);
            if !self.inner.on_data(&self.bytes) {
                return false;
            }
            let sse = SseEvent {
                event: ev.event.unwrap_or("message").into(),
                data: ev.data.as_str().into(),
                id: "".into(),
            };
            if !self.inner.on_event(&sse) {
                return false;
            }
        }
        true
    }
}
