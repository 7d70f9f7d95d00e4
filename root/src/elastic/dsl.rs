//! Elasticsearch's query DSL as fanout's structured query (`fanout.v1.Query`): every
//! clause becomes a node of the tree the leaves build their tantivy query from, so no
//! text is ever printed into query syntax and escaping cannot change a query's meaning.
//! A clause or parameter fanout does not support is a 400 that names it and its place,
//! e.g. `[query.bool.must[0].fuzzy] fanout does not support the [fuzzy] query`.

use fanout_contracts::{FieldKind, IndexSchema};
use fanout_proto::v1::query::Kind;
use fanout_proto::v1::{self as wire, value};
use serde_json::{Map, Value as Json};
use tantivy::time::OffsetDateTime;
use tantivy::time::format_description::well_known::Rfc3339;

use super::error::ElasticError;
use super::glob;
use super::simple_query::SimpleQuery;

/// The clauses this translation supports.
pub const SUPPORTED_CLAUSES: &[&str] = &[
    "match_all",
    "match_none",
    "match",
    "match_phrase",
    "multi_match",
    "bool",
    "term",
    "terms",
    "range",
    "exists",
    "prefix",
    "ids",
    "query_string",
    "simple_query_string",
];

/// Translates query DSL over one index's schema.
pub struct Dsl<'a> {
    schema: &'a IndexSchema,
}

/// The fields of a clause object, consumed as they are read, so that whatever is left
/// is named as unsupported.
struct Params<'a> {
    clause: &'a str,
    path: &'a str,
    map: Map<String, Json>,
}

impl<'a> Params<'a> {
    fn of(clause: &'a str, path: &'a str, value: &Json) -> Result<Params<'a>, ElasticError> {
        match value {
            Json::Object(map) => Ok(Params { clause, path, map: map.clone() }),
            other => Err(ElasticError::parsing(format!("[{path}] [{clause}] expects an object, got {other}"))),
        }
    }

    fn take(&mut self, key: &str) -> Option<Json> {
        self.map.remove(key)
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, ElasticError> {
        match self.take(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(text)) => Ok(Some(text)),
            Some(Json::Number(number)) => Ok(Some(number.to_string())),
            Some(Json::Bool(flag)) => Ok(Some(flag.to_string())),
            Some(other) => Err(self.wrong(key, "a string", &other)),
        }
    }

    fn number(&mut self, key: &str) -> Result<Option<f64>, ElasticError> {
        match self.take(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::Number(number)) => Ok(number.as_f64()),
            Some(Json::String(text)) => match text.trim().parse::<f64>() {
                Ok(number) => Ok(Some(number)),
                Err(_) => Err(self.wrong(key, "a number", &Json::String(text))),
            },
            Some(other) => Err(self.wrong(key, "a number", &other)),
        }
    }

    fn boost(&mut self) -> Result<Option<f32>, ElasticError> {
        Ok(self.number("boost")?.map(|boost| boost as f32))
    }

    fn wrong(&self, key: &str, expected: &str, got: &Json) -> ElasticError {
        ElasticError::parsing(format!(
            "[{}] [{}] parameter [{key}] must be {expected}, got {got}",
            self.path, self.clause
        ))
    }

    /// Refuses whatever was not read.
    fn done(self) -> Result<(), ElasticError> {
        let Some(key) = self.map.keys().next() else { return Ok(()) };
        Err(ElasticError::parsing(format!(
            "[{}] fanout does not support [{key}] in a [{}] query",
            self.path, self.clause
        )))
    }
}

/// The query of every document (what a search without a query asks).
pub fn match_all() -> wire::Query {
    node(Kind::MatchAll(wire::MatchAll {}), None)
}

fn node(kind: Kind, boost: Option<f32>) -> wire::Query {
    wire::Query { kind: Some(kind), boost }
}

/// `{"field": …}`: the one field a clause names and its value.
fn single_field<'v>(clause: &str, path: &str, value: &'v Json) -> Result<(&'v str, &'v Json), ElasticError> {
    let Json::Object(map) = value else {
        return Err(ElasticError::parsing(format!("[{path}] [{clause}] expects an object, got {value}")));
    };
    let mut fields = map.iter();
    match (fields.next(), fields.next()) {
        (Some((field, value)), None) => Ok((field, value)),
        (None, _) => Err(ElasticError::parsing(format!("[{path}] [{clause}] names no field"))),
        (Some(_), Some(_)) => Err(ElasticError::parsing(format!(
            "[{path}] [{clause}] query doesn't support multiple fields, found [{}]",
            map.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

impl<'a> Dsl<'a> {
    /// A translator for the index described by `schema`.
    pub fn new(schema: &'a IndexSchema) -> Dsl<'a> {
        Dsl { schema }
    }

    /// The structured query of one DSL clause (`{"match": {…}}`), whose place in the
    /// request is `path` (e.g. `query`).
    pub fn translate(&self, value: &Json, path: &str) -> Result<wire::Query, ElasticError> {
        let Json::Object(map) = value else {
            return Err(ElasticError::parsing(format!("[{path}] a query must be an object, got {value}")));
        };
        let mut clauses = map.iter();
        let (name, body) = match (clauses.next(), clauses.next()) {
            (Some(clause), None) => clause,
            (None, _) => {
                return Err(ElasticError::parsing(format!("[{path}] a query must name one clause, found none")));
            }
            (Some((first, _)), Some((second, _))) => {
                return Err(ElasticError::parsing(format!(
                    "[{path}] a query must name one clause, found [{first}] and [{second}]"
                )));
            }
        };
        let path = format!("{path}.{name}");
        match name.as_str() {
            "match_all" => {
                let mut params = Params::of(name, &path, body)?;
                let boost = params.boost()?;
                params.done()?;
                Ok(node(Kind::MatchAll(wire::MatchAll {}), boost))
            }
            "match_none" => {
                let mut params = Params::of(name, &path, body)?;
                let boost = params.boost()?;
                params.done()?;
                Ok(node(Kind::MatchNone(wire::MatchNone {}), boost))
            }
            "match" => self.match_query(body, &path),
            "match_phrase" => self.match_phrase(body, &path),
            "multi_match" => self.multi_match(body, &path),
            "bool" => self.bool_query(body, &path),
            "term" => self.term(body, &path),
            "terms" => self.terms(body, &path),
            "range" => self.range(body, &path),
            "exists" => {
                let mut params = Params::of(name, &path, body)?;
                let field = params.string("field")?.ok_or_else(|| missing(&path, "field"))?;
                let boost = params.boost()?;
                params.done()?;
                Ok(node(Kind::Exists(wire::ExistsQuery { field }), boost))
            }
            "prefix" => {
                let (field, value) = single_field(name, &path, body)?;
                let (prefix, boost) = match value {
                    Json::Object(_) => {
                        let mut params = Params::of(name, &path, value)?;
                        let prefix = params.string("value")?.ok_or_else(|| missing(&path, "value"))?;
                        let boost = params.boost()?;
                        params.take("rewrite");
                        params.done()?;
                        (prefix, boost)
                    }
                    other => (scalar_text(&path, other)?, None),
                };
                Ok(node(Kind::Prefix(wire::PrefixQuery { field: field.to_string(), prefix }), boost))
            }
            "ids" => {
                let mut params = Params::of(name, &path, body)?;
                let values = match params.take("values") {
                    Some(Json::Array(values)) => values,
                    Some(other) => return Err(params.wrong("values", "an array", &other)),
                    None => return Err(missing(&path, "values")),
                };
                let ids = values.iter().map(|id| scalar_text(&path, id)).collect::<Result<_, _>>()?;
                let boost = params.boost()?;
                params.done()?;
                Ok(node(Kind::Ids(wire::IdsQuery { ids }), boost))
            }
            "query_string" => self.query_string(body, &path),
            "simple_query_string" => self.simple_query_string(body, &path),
            known @ ("fuzzy"
            | "wildcard"
            | "regexp"
            | "match_phrase_prefix"
            | "match_bool_prefix"
            | "nested"
            | "has_child"
            | "has_parent"
            | "geo_distance"
            | "geo_bounding_box"
            | "more_like_this"
            | "script"
            | "script_score"
            | "function_score"
            | "dis_max"
            | "constant_score"
            | "boosting"
            | "terms_set"
            | "intervals"
            | "knn"
            | "span_term"
            | "distance_feature"
            | "rank_feature"
            | "percolate"
            | "wrapper"
            | "pinned"
            | "combined_fields") => Err(ElasticError::parsing(format!(
                "[{path}] fanout does not support the [{known}] query (supported: {})",
                SUPPORTED_CLAUSES.join(", ")
            ))),
            unknown => Err(ElasticError::parsing(format!("[{path}] unknown query [{unknown}]"))),
        }
    }

    fn match_query(&self, body: &Json, path: &str) -> Result<wire::Query, ElasticError> {
        let (field, text, boost, clause) = field_text("match", path, body, |params| {
            Ok(wire::MatchQuery {
                all_terms: operator_is_and(params)?,
                minimum_should_match: params.string("minimum_should_match")?.unwrap_or_default(),
                zero_terms_match_all: zero_terms(params)?,
                ..Default::default()
            })
        })?;
        Ok(node(Kind::Match(wire::MatchQuery { field, text, ..clause }), boost))
    }

    fn match_phrase(&self, body: &Json, path: &str) -> Result<wire::Query, ElasticError> {
        let (field, text, boost, clause) = field_text("match_phrase", path, body, |params| {
            Ok(wire::MatchPhraseQuery {
                slop: non_negative(params, "slop")?,
                zero_terms_match_all: zero_terms(params)?,
                ..Default::default()
            })
        })?;
        Ok(node(Kind::MatchPhrase(wire::MatchPhraseQuery { field, text, ..clause }), boost))
    }

    fn multi_match(&self, body: &Json, path: &str) -> Result<wire::Query, ElasticError> {
        let mut params = Params::of("multi_match", path, body)?;
        let text = params.string("query")?.ok_or_else(|| missing(path, "query"))?;
        let mut fields = self.weighted_fields(&mut params, "fields", path)?;
        if fields.is_empty() {
            fields = self.default_fields();
        }
        let all_terms = operator_is_and(&mut params)?;
        let minimum_should_match = params.string("minimum_should_match")?.unwrap_or_default();
        let zero_terms_match_all = zero_terms(&mut params)?;
        let tie_breaker = params.number("tie_breaker")?.unwrap_or(0.0) as f32;
        let slop = non_negative(&mut params, "slop")?;
        let kind = params.string("type")?.unwrap_or_else(|| "best_fields".into());
        let boost = params.boost()?;
        params.done()?;
        let per_field = |phrase: bool| -> Vec<wire::Query> {
            (fields.iter())
                .map(|(field, weight)| {
                    let kind = if phrase {
                        Kind::MatchPhrase(wire::MatchPhraseQuery {
                            field: field.clone(),
                            text: text.clone(),
                            slop,
                            zero_terms_match_all,
                        })
                    } else {
                        Kind::Match(wire::MatchQuery {
                            field: field.clone(),
                            text: text.clone(),
                            all_terms,
                            minimum_should_match: minimum_should_match.clone(),
                            zero_terms_match_all,
                        })
                    };
                    node(kind, *weight)
                })
                .collect()
        };
        let combined = match kind.as_str() {
            // The best field's score, plus tie_breaker times the others'.
            "best_fields" => Kind::DisMax(wire::DisMaxQuery { queries: per_field(false), tie_breaker }),
            "phrase" => Kind::DisMax(wire::DisMaxQuery { queries: per_field(true), tie_breaker }),
            // Every matching field's score, summed.
            "most_fields" => Kind::Bool(wire::BoolQuery { should: per_field(false), ..Default::default() }),
            other @ ("cross_fields" | "phrase_prefix" | "bool_prefix") => {
                return Err(ElasticError::parsing(format!(
                    "[{path}] fanout does not support multi_match type [{other}] (supported: best_fields, most_fields, phrase)"
                )));
            }
            other => return Err(ElasticError::parsing(format!("[{path}] unknown multi_match type [{other}]"))),
        };
        Ok(node(combined, boost))
    }

    fn bool_query(&self, body: &Json, path: &str) -> Result<wire::Query, ElasticError> {
        let mut params = Params::of("bool", path, body)?;
        let mut clauses = |occur: &str| -> Result<Vec<wire::Query>, ElasticError> {
            match params.take(occur) {
                None | Some(Json::Null) => Ok(Vec::new()),
                Some(Json::Array(items)) => (items.iter().enumerate())
                    .map(|(i, item)| self.translate(item, &format!("{path}.{occur}[{i}]")))
                    .collect(),
                Some(single) => Ok(vec![self.translate(&single, &format!("{path}.{occur}"))?]),
            }
        };
        let query = wire::BoolQuery {
            must: clauses("must")?,
            should: clauses("should")?,
            must_not: clauses("must_not")?,
            filter: clauses("filter")?,
            minimum_should_match: params.string("minimum_should_match")?.unwrap_or_default(),
        };
        if let Some(pure) = params.take("adjust_pure_negative")
            && pure != Json::Bool(true)
        {
            return Err(ElasticError::parsing(format!("[{path}] fanout supports only adjust_pure_negative: true")));
        }
        let boost = params.boost()?;
        params.done()?;
        Ok(node(Kind::Bool(query), boost))
    }

    fn term(&self, body: &Json, path: &str) -> Result<wire::Query, ElasticError> {
        let (field, value) = single_field("term", path, body)?;
        let (value, boost) = match value {
            Json::Object(_) => {
                let mut params = Params::of("term", path, value)?;
                let value = params.take("value").ok_or_else(|| missing(path, "value"))?;
                let boost = params.boost()?;
                if params.take("case_insensitive").is_some_and(|flag| flag == Json::Bool(true)) {
                    return Err(ElasticError::parsing(format!(
                        "[{path}] fanout does not support case_insensitive terms"
                    )));
                }
                params.done()?;
                (value, boost)
            }
            other => (other.clone(), None),
        };
        let value = Some(self.value(field, &value, path)?);
        Ok(node(Kind::Term(wire::TermQuery { field: field.to_string(), value }), boost))
    }

    fn terms(&self, body: &Json, path: &str) -> Result<wire::Query, ElasticError> {
        let mut params = Params::of("terms", path, body)?;
        let boost = params.boost()?;
        let rest = Json::Object(params.map.clone());
        let (field, values) = single_field("terms", path, &rest)?;
        let Json::Array(values) = values else {
            return Err(ElasticError::parsing(format!(
                "[{path}] [terms] on [{field}] takes an array of values (terms lookup is not supported), got {values}"
            )));
        };
        let values = values.iter().map(|value| self.value(field, value, path)).collect::<Result<_, _>>()?;
        Ok(node(Kind::Terms(wire::TermsQuery { field: field.to_string(), values }), boost))
    }

    fn range(&self, body: &Json, path: &str) -> Result<wire::Query, ElasticError> {
        let (field, bounds) = single_field("range", path, body)?;
        let mut params = Params::of("range", path, bounds)?;
        // The formats dashboards send (Grafana: epoch_millis); epoch_second reads numbers
        // as seconds; the rest is what fanout reads anyway.
        let seconds = match params.string("format")? {
            None => false,
            Some(format) => {
                let formats: Vec<&str> = format.split("||").map(str::trim).collect();
                let known = |name: &&str| {
                    matches!(
                        *name,
                        "epoch_millis" | "epoch_second" | "strict_date_optional_time" | "date_optional_time"
                    )
                };
                if let Some(unknown) = formats.iter().find(|name| !known(name)) {
                    return Err(ElasticError::parsing(format!(
                        "[{path}] fanout does not support the date format [{unknown}] (supported: epoch_millis, \
                         epoch_second, strict_date_optional_time, date_optional_time)"
                    )));
                }
                formats.contains(&"epoch_second") && !formats.contains(&"epoch_millis")
            }
        };
        let mut bound = |key: &str| -> Result<Option<wire::Value>, ElasticError> {
            match params.take(key) {
                None | Some(Json::Null) => Ok(None),
                Some(Json::Number(number)) if seconds && self.kind_of(field) == Some(FieldKind::Date) => {
                    let millis = number.as_i64().and_then(|seconds| seconds.checked_mul(1000)).ok_or_else(|| {
                        ElasticError::parsing(format!("[{path}] date of [{field}]: {number} is not epoch seconds"))
                    })?;
                    Ok(Some(self.value(field, &Json::from(millis), path)?))
                }
                Some(value) => Ok(Some(self.value(field, &value, path)?)),
            }
        };
        let clause = wire::RangeQuery {
            field: field.to_string(),
            gt: bound("gt")?,
            gte: bound("gte")?,
            lt: bound("lt")?,
            lte: bound("lte")?,
        };
        let boost = params.boost()?;
        params.done()?;
        Ok(node(Kind::Range(clause), boost))
    }

    fn query_string(&self, body: &Json, path: &str) -> Result<wire::Query, ElasticError> {
        let mut params = Params::of("query_string", path, body)?;
        let query = params.string("query")?.ok_or_else(|| missing(path, "query"))?;
        let mut fields: Vec<String> = Vec::new();
        if let Some(field) = params.string("default_field")? {
            fields.push(field);
        }
        for (field, weight) in self.weighted_fields(&mut params, "fields", path)? {
            if weight.is_some() {
                return Err(ElasticError::parsing(format!(
                    "[{path}] fanout does not support field boosts in query_string (use multi_match)"
                )));
            }
            fields.push(field);
        }
        // `*` means every default field.
        fields.retain(|field| field != "*");
        let all_terms = operator_is_and(&mut params)?;
        let boost = params.boost()?;
        params.done()?;
        Ok(node(Kind::QueryString(wire::QueryStringQuery { query, fields, all_terms }), boost))
    }

    fn simple_query_string(&self, body: &Json, path: &str) -> Result<wire::Query, ElasticError> {
        let mut params = Params::of("simple_query_string", path, body)?;
        let text = params.string("query")?.ok_or_else(|| missing(path, "query"))?;
        let mut fields = self.weighted_fields(&mut params, "fields", path)?;
        if fields.is_empty() {
            fields = self.default_fields();
        }
        let all_terms = operator_is_and(&mut params)?;
        if let Some(flags) = params.string("flags")?
            && flags != "ALL"
        {
            return Err(ElasticError::parsing(format!("[{path}] fanout supports only flags ALL, got [{flags}]")));
        }
        params.take("analyze_wildcard");
        let boost = params.boost()?;
        params.done()?;
        let text_fields: Vec<(String, Option<f32>, bool)> = (fields.into_iter())
            .map(|(field, weight)| {
                let is_text = self.kind_of(&field) == Some(FieldKind::Text);
                (field, weight, is_text)
            })
            .collect();
        let parsed = SimpleQuery { fields: &text_fields, all_terms }
            .parse(&text)
            .map_err(|err| ElasticError::parsing(format!("[{path}] cannot parse [{text}]: {err}")))?;
        Ok(wire::Query { boost, ..parsed })
    }

    /// A list of fields, each optionally `name^weight` or a `prefix*` pattern over the
    /// schema's fields; absent: none.
    fn weighted_fields(
        &self,
        params: &mut Params<'_>,
        key: &str,
        path: &str,
    ) -> Result<Vec<(String, Option<f32>)>, ElasticError> {
        let names = match params.take(key) {
            None | Some(Json::Null) => return Ok(Vec::new()),
            Some(Json::Array(names)) => names,
            Some(Json::String(name)) => vec![Json::String(name)],
            Some(other) => return Err(params.wrong(key, "an array of field names", &other)),
        };
        let mut fields = Vec::new();
        for name in names {
            let Json::String(name) = name else {
                return Err(ElasticError::parsing(format!("[{path}] field names must be strings, got {name}")));
            };
            let (pattern, weight) = match name.split_once('^') {
                Some((field, weight)) => {
                    let weight: f32 = weight.parse().map_err(|_| {
                        ElasticError::parsing(format!("[{path}] field [{name}]: the weight after ^ must be a number"))
                    })?;
                    (field.to_string(), Some(weight))
                }
                None => (name, None),
            };
            if pattern == "*" {
                fields.extend(self.default_fields().into_iter().map(|(field, _)| (field, weight)));
            } else if pattern.contains('*') {
                let matching = (self.schema.fields.iter())
                    .filter(|(spec, _)| spec.kind == FieldKind::Text && glob(&pattern, &spec.name))
                    .map(|(spec, _)| (spec.name.clone(), weight));
                fields.extend(matching);
            } else {
                fields.push((pattern, weight));
            }
        }
        Ok(fields)
    }

    /// The index's default search fields, unweighted.
    pub fn default_fields(&self) -> Vec<(String, Option<f32>)> {
        (self.schema.default_search_fields.iter())
            .map(|field| (self.schema.schema.get_field_name(*field).to_string(), None))
            .collect()
    }

    fn kind_of(&self, field: &str) -> Option<FieldKind> {
        if field == "_id" || field == self.schema.id_field_name() {
            return Some(FieldKind::Keyword);
        }
        self.schema.fields.iter().find(|(spec, _)| spec.name == field).map(|(spec, _)| spec.kind)
    }

    /// A JSON value of `field` as the structured query carries it: numbers as numbers,
    /// dates as RFC 3339 text (Elasticsearch's epoch milliseconds and `YYYY-MM-DD`
    /// included), the rest as text.
    pub fn value(&self, field: &str, value: &Json, path: &str) -> Result<wire::Value, ElasticError> {
        let kind = match (self.kind_of(field), value) {
            (Some(FieldKind::Date), Json::Number(millis)) => {
                let millis = millis.as_i64().ok_or_else(|| {
                    ElasticError::parsing(format!("[{path}] date of [{field}]: {millis} is not epoch milliseconds"))
                })?;
                value::Kind::Text(
                    epoch_millis_text(millis).map_err(|err| ElasticError::parsing(format!("[{path}] {err}")))?,
                )
            }
            (Some(FieldKind::Date), Json::String(text)) => value::Kind::Text(date_text(text, field, path)?),
            (Some(FieldKind::I64 | FieldKind::U64 | FieldKind::F64), Json::String(text)) => {
                number_kind(&serde_json::from_str(text.trim()).unwrap_or(Json::String(text.clone())))
                    .unwrap_or(value::Kind::Text(text.clone()))
            }
            (Some(FieldKind::Bool), Json::String(text)) if text == "true" || text == "false" => {
                value::Kind::Boolean(text == "true")
            }
            (Some(FieldKind::Text | FieldKind::Keyword), Json::Number(number)) => value::Kind::Text(number.to_string()),
            (Some(FieldKind::Text | FieldKind::Keyword), Json::Bool(flag)) => value::Kind::Text(flag.to_string()),
            (_, Json::Bool(flag)) => value::Kind::Boolean(*flag),
            (_, Json::String(text)) => value::Kind::Text(text.clone()),
            (_, number @ Json::Number(_)) => number_kind(number).expect("a number"),
            (_, other) => {
                return Err(ElasticError::parsing(format!(
                    "[{path}] a value of [{field}] must be a scalar, got {other}"
                )));
            }
        };
        Ok(wire::Value { kind: Some(kind) })
    }
}

fn number_kind(value: &Json) -> Option<value::Kind> {
    let Json::Number(number) = value else { return None };
    Some(if let Some(integer) = number.as_i64() {
        value::Kind::Integer(integer)
    } else if let Some(unsigned) = number.as_u64() {
        value::Kind::Unsigned(unsigned)
    } else {
        value::Kind::Float(number.as_f64()?)
    })
}

/// Epoch milliseconds (Elasticsearch's numeric dates) as RFC 3339 text.
pub fn epoch_millis_text(millis: i64) -> Result<String, String> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .ok()
        .and_then(|date| date.format(&Rfc3339).ok())
        .ok_or_else(|| format!("{millis} epoch milliseconds is out of range"))
}

/// A date as text: RFC 3339, or `YYYY-MM-DD` (midnight UTC); date math is refused.
fn date_text(text: &str, field: &str, path: &str) -> Result<String, ElasticError> {
    let text = text.trim();
    if text.starts_with("now") || text.contains("||") {
        return Err(ElasticError::parsing(format!(
            "[{path}] date of [{field}]: fanout does not support date math ({text:?}); give RFC 3339, YYYY-MM-DD or epoch milliseconds"
        )));
    }
    let candidate = if text.len() == 10 { format!("{text}T00:00:00Z") } else { text.to_string() };
    match OffsetDateTime::parse(&candidate, &Rfc3339) {
        Ok(_) => Ok(candidate),
        Err(_) => Err(ElasticError::parsing(format!(
            "[{path}] date of [{field}]: cannot read {text:?}; give RFC 3339, YYYY-MM-DD or epoch milliseconds"
        ))),
    }
}

/// A full-text clause in either form, `{"field": "text"}` or `{"field": {"query": "text",
/// …}}`: its field, its text, its boost, and the options `options` reads from the long
/// form (the default for the short one).
fn field_text<T: Default>(
    clause: &str,
    path: &str,
    body: &Json,
    options: impl FnOnce(&mut Params<'_>) -> Result<T, ElasticError>,
) -> Result<(String, String, Option<f32>, T), ElasticError> {
    let (field, value) = single_field(clause, path, body)?;
    if !value.is_object() {
        return Ok((field.to_string(), scalar_text(path, value)?, None, T::default()));
    }
    let mut params = Params::of(clause, path, value)?;
    let text = params.string("query")?.ok_or_else(|| missing(path, "query"))?;
    let read = options(&mut params)?;
    let boost = params.boost()?;
    params.done()?;
    Ok((field.to_string(), text, boost, read))
}

fn missing(path: &str, key: &str) -> ElasticError {
    ElasticError::parsing(format!("[{path}] requires [{key}]"))
}

/// A scalar as the text of a query.
fn scalar_text(path: &str, value: &Json) -> Result<String, ElasticError> {
    match value {
        Json::String(text) => Ok(text.clone()),
        Json::Number(number) => Ok(number.to_string()),
        Json::Bool(flag) => Ok(flag.to_string()),
        other => Err(ElasticError::parsing(format!("[{path}] expects text, got {other}"))),
    }
}

fn operator_is_and(params: &mut Params<'_>) -> Result<bool, ElasticError> {
    let key = if params.map.contains_key("default_operator") { "default_operator" } else { "operator" };
    match params.string(key)?.map(|operator| operator.to_ascii_lowercase()).as_deref() {
        None | Some("or") => Ok(false),
        Some("and") => Ok(true),
        Some(other) => {
            Err(ElasticError::parsing(format!("[{}] [{key}] must be OR or AND, got [{other}]", params.path)))
        }
    }
}

fn zero_terms(params: &mut Params<'_>) -> Result<bool, ElasticError> {
    match params.string("zero_terms_query")?.map(|value| value.to_ascii_lowercase()).as_deref() {
        None | Some("none") => Ok(false),
        Some("all") => Ok(true),
        Some(other) => Err(ElasticError::parsing(format!(
            "[{}] [zero_terms_query] must be none or all, got [{other}]",
            params.path
        ))),
    }
}

fn non_negative(params: &mut Params<'_>, key: &str) -> Result<u32, ElasticError> {
    match params.number(key)? {
        None => Ok(0),
        Some(number) if number >= 0.0 && number.fract() == 0.0 && number <= f64::from(u32::MAX) => Ok(number as u32),
        Some(number) => Err(params.wrong(key, "a non-negative integer", &Json::from(number))),
    }
}

#[cfg(test)]
mod tests;
