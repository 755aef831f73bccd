//! ContentFilteredTopic: a topic seen through a DDS SQL filter (DDS 1.4 §2.2.2.3.3, Annex B).
//!
//! A reader created on a [`ContentFilteredTopic`] keeps only the samples that pass the filter, evaluated on the
//! sample's dynamic-type form (no JSON). It announces the filter in SEDP as CONTENT_FILTER_PROPERTY
//! (`PID 0x0035`: the filtered topic's name, the related topic's name, `"DDSSQL"`, the expression and its
//! parameters), and a Starling writer that matches it evaluates the filter before sending: samples the reader
//! would drop are not sent to it (a reliable reader gets a GAP for them instead). Other vendors' writers send
//! everything and the reader filters on arrival; Starling writers filter at the source only for Starling
//! readers, whose filter semantics they share.
//!
//! [`ContentFilteredTopic::set_expression_parameters`] changes the parameters at run time: readers apply the
//! new ones at once and announce them again, so matched writers switch too.

use super::participant::{Shared, Topic};
use super::DdsError;
use crate::filter::{projection, DynamicSample, Filter, FilterError};
use starling_proto::discovery::ContentFilterProperty;
use starling_proto::wire::types::Guid;
use starling_proto::xtypes::{self, DynamicType, DynamicValue, Projection};
use std::sync::{Arc, Mutex, RwLock, Weak};

/// The filter class name of the DDS SQL grammar, as sent in CONTENT_FILTER_PROPERTY.
pub const DDSSQL: &str = "DDSSQL";

/// What a content-filtered topic and the readers created on it share.
pub struct CftState {
    name: String,
    related_topic: String,
    ty: DynamicType,
    filter: RwLock<Arc<Filter>>,
    /// The members the expression names: all a sample's payload is decoded for.
    projection: Projection,
    /// The readers created on the topic (to announce new parameters).
    readers: Mutex<Vec<(Weak<Shared>, Guid)>>,
}

impl std::fmt::Debug for CftState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CftState").field("name", &self.name).field("related_topic", &self.related_topic).finish()
    }
}

impl CftState {
    fn current(&self) -> Arc<Filter> {
        self.filter.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// CONTENT_FILTER_PROPERTY for the current expression and parameters.
    pub(crate) fn property(&self) -> ContentFilterProperty {
        let f = self.current();
        ContentFilterProperty {
            content_filtered_topic_name: self.name.clone(),
            related_topic_name: self.related_topic.clone(),
            filter_class_name: DDSSQL.to_string(),
            filter_expression: f.expression().to_string(),
            expression_parameters: f.parameters().to_vec(),
        }
    }

    /// True when the sample (of the topic's type) passes the filter.
    pub(crate) fn accepts_value(&self, value: &DynamicValue) -> bool {
        self.current().matches(&DynamicSample::new(&self.ty, value))
    }

    /// True when the encapsulated sample passes the filter; an undecodable one does not.
    pub(crate) fn accepts_payload(&self, payload: &[u8]) -> bool {
        accepts_payload(&self.current(), &self.ty, &self.projection, payload)
    }

    /// Notes a reader created on the topic.
    pub(crate) fn add_reader(&self, shared: &Arc<Shared>, guid: Guid) {
        let mut readers = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        readers.retain(|(s, _)| s.strong_count() > 0);
        readers.push((Arc::downgrade(shared), guid));
    }
}

/// Evaluates `filter` on an encapsulated sample of type `ty`, decoding only the members in `projection`; an
/// undecodable sample does not pass.
pub(crate) fn accepts_payload(filter: &Filter, ty: &DynamicType, projection: &Projection, payload: &[u8]) -> bool {
    match xtypes::decode_projected(ty, payload, projection) {
        Ok(v) => filter.matches(&DynamicSample::new(ty, &v)),
        Err(e) => {
            tracing::debug!("content filter: undecodable sample: {e}");
            false
        }
    }
}

/// A topic whose readers see only the samples that pass a DDS SQL filter expression.
///
/// Created with [`DomainParticipant::create_contentfilteredtopic`](super::DomainParticipant::create_contentfilteredtopic);
/// readers are created on it like on a [`Topic`] (`subscriber.create_datareader(&cft, qos)`).
///
/// ```no_run
/// use starling::dds::DomainParticipant;
/// use starling::types::ShapeType;
///
/// let p = DomainParticipant::new(0)?;
/// let square = p.create_topic::<ShapeType>("Square");
/// let big = p.create_contentfilteredtopic("BigSquares", &square, "shapesize > %0 AND color = 'RED'", &["20"])?;
/// let reader = p.create_datareader(&big, None)?;
/// big.set_expression_parameters(&["40"])?; // from now on only sizes above 40
/// # drop(reader);
/// # Ok::<(), starling::dds::DdsError>(())
/// ```
pub struct ContentFilteredTopic<T> {
    related: Topic<T>,
    state: Arc<CftState>,
}

impl<T> std::fmt::Debug for ContentFilteredTopic<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentFilteredTopic")
            .field("name", &self.state.name)
            .field("related_topic", &self.state.related_topic)
            .field("expression", &self.filter_expression())
            .finish()
    }
}

impl<T> Clone for ContentFilteredTopic<T> {
    fn clone(&self) -> Self {
        ContentFilteredTopic { related: self.related.clone(), state: self.state.clone() }
    }
}

impl<T: 'static> ContentFilteredTopic<T> {
    /// Parses `expression` (errors give the column), checks that `parameters` cover every `%n` it uses, and
    /// binds it to the related topic's type, which must describe itself (an XTypes dynamic type).
    pub(crate) fn new<S: AsRef<str>>(
        name: &str,
        related: &Topic<T>,
        expression: &str,
        parameters: &[S],
    ) -> Result<Self, DdsError> {
        let filter = Filter::with_parameters(expression, parameters)?;
        let ty =
            related.support().dynamic_type().ok_or_else(|| DdsError::FilterUnsupported(related.type_name().into()))?;
        let projection = projection(&ty, &filter);
        let state = Arc::new(CftState {
            name: name.to_string(),
            related_topic: related.name().to_string(),
            projection,
            ty,
            filter: RwLock::new(Arc::new(filter)),
            readers: Mutex::new(Vec::new()),
        });
        Ok(ContentFilteredTopic { related: related.clone(), state })
    }
}

impl<T> ContentFilteredTopic<T> {
    /// The content-filtered topic's own name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// The topic whose samples are filtered.
    pub fn related_topic(&self) -> &Topic<T> {
        &self.related
    }

    /// The filter expression.
    pub fn filter_expression(&self) -> String {
        self.state.current().expression().to_string()
    }

    /// The current `%n` parameters.
    pub fn expression_parameters(&self) -> Vec<String> {
        self.state.current().parameters().to_vec()
    }

    /// Replaces the `%n` parameters. Readers created on this topic filter with them from now on and announce
    /// them in SEDP, so that matched Starling writers filter with them too. Fails, changing nothing, when
    /// the expression uses more parameters than given.
    pub fn set_expression_parameters<S: AsRef<str>>(&self, parameters: &[S]) -> Result<(), FilterError> {
        let mut f = (*self.state.current()).clone();
        f.set_parameters(parameters)?;
        *self.state.filter.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(f);
        let property = self.state.property();
        let readers: Vec<(Weak<Shared>, Guid)> = self.state.readers.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for (shared, guid) in readers {
            let Some(shared) = shared.upgrade() else { continue };
            if shared.inner.is_closed() {
                continue;
            }
            let p = property.clone();
            shared.inner.call(|core, now| core.set_reader_content_filter(now, guid, Some(p)), |_, _| {});
        }
        Ok(())
    }
}

pub(crate) mod sealed {
    use super::{CftState, Topic};
    use std::sync::Arc;

    /// What readers need from a topic description.
    pub trait Sealed<T> {
        /// The topic the samples belong to.
        fn topic(&self) -> &Topic<T>;
        /// The content filter, for a content-filtered topic.
        fn content_filter(&self) -> Option<&Arc<CftState>>;
    }
}

/// What a reader can be created on: a [`Topic`] or a [`ContentFilteredTopic`] (DDS TopicDescription).
pub trait TopicDescription<T>: sealed::Sealed<T> {
    /// The description's name (the filtered topic's own name for a [`ContentFilteredTopic`]).
    fn name(&self) -> &str;
    /// The registered type name.
    fn type_name(&self) -> &str;
}

impl<T> sealed::Sealed<T> for Topic<T> {
    fn topic(&self) -> &Topic<T> {
        self
    }
    fn content_filter(&self) -> Option<&Arc<CftState>> {
        None
    }
}

impl<T> TopicDescription<T> for Topic<T> {
    fn name(&self) -> &str {
        Topic::name(self)
    }
    fn type_name(&self) -> &str {
        Topic::type_name(self)
    }
}

impl<T> sealed::Sealed<T> for ContentFilteredTopic<T> {
    fn topic(&self) -> &Topic<T> {
        &self.related
    }
    fn content_filter(&self) -> Option<&Arc<CftState>> {
        Some(&self.state)
    }
}

impl<T> TopicDescription<T> for ContentFilteredTopic<T> {
    fn name(&self) -> &str {
        &self.state.name
    }
    fn type_name(&self) -> &str {
        self.related.type_name()
    }
}
