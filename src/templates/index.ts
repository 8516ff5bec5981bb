export { Renderer, assertSafe, deriveText, TEMPLATE_PARTS, type RenderedMail, type RenderOptions, type TemplatePart, type TemplateProblem, type UnsavedSources } from './renderer';
export { buildContext, safeFilename, type TemplateContext, type TemplateTenant } from './context';
export { fileStamp, firstTimeZone, Formats, formatPhone } from './format';
export { resolveLanguage } from './language';
export { previewPage, type PreviewPageOptions } from './preview-page';
export type { PreviewRequest, PreviewResult } from './preview';
export { RenderService, type RenderObserver, type RenderServiceOptions, type ServiceRenderOptions } from './render-service';
export { DEFAULT_RENDER_LIMITS, type RenderLimits, type BudgetLimit } from './render-budget';
