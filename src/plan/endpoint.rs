//! Provider endpoints (`{provider}/{path}`): the request sent as it is to
//! the one provider its path names. The last planner asked: every path
//! the others leave is a provider endpoint, or refused as one.

use crate::error::Result;
use crate::plan::step::{Plan, PlanContext, PlanInput, PlannedStep, Planner, apply_stored_key};
use crate::providers::provider::split_path;

pub struct EndpointPlanner;

impl Planner for EndpointPlanner {
    fn plan(
        &self,
        ctx: &PlanContext<'_>,
        input: &mut PlanInput<'_>,
        plan: &mut Plan,
    ) -> Result<bool> {
        let (slug, rest) = split_path(input.path)?;
        let target = ctx.providers.target(slug, rest)?;
        let mut headers = std::mem::take(&mut input.forward);
        apply_stored_key(ctx.config, &target, &mut headers);
        // One step, allocated for one (a push would allocate for four).
        plan.steps = vec![PlannedStep {
            index: 0,
            target,
            method: input.method.to_string(),
            headers,
            body: crate::alloc::try_copy(input.body, "the request body")?,
            settings: input.base.resolve(),
            response_headers: Vec::new(),
            compat: None,
        }];
        Ok(true)
    }
}
